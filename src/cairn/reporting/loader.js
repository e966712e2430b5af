(function(){
  var els = Array.prototype.slice.call(document.querySelectorAll('.cairn-plot'));
  function draw(el){
    if (el._cairn) return el._cairn;
    el.dataset.state = 'drawing';
    var spec;
    try { spec = JSON.parse(el.querySelector('script[type="application/json"]').textContent); }
    catch (err) { el.dataset.state = 'failed'; console.error('cairn: bad plot data', err);
                  return Promise.resolve(); }
    var area = el.querySelector('.plot-area');
    el._cairn = Plotly.newPlot(area, spec.data, spec.layout, spec.config).then(
      function(){ el.dataset.state = 'drawn'; },
      function(err){ el.dataset.state = 'failed'; console.error('cairn: plot failed', err); });
    return el._cairn;
  }
  window.cairnRenderAll = function(){ return Promise.all(els.map(draw)).then(function(){
    return els.length; }); };
  if ('IntersectionObserver' in window) {
    var io = new IntersectionObserver(function(entries){
      entries.forEach(function(e){ if (e.isIntersecting){ io.unobserve(e.target); draw(e.target); } });
    }, {rootMargin: '800px 0px'});
    els.forEach(function(el){ io.observe(el); });
  } else { window.cairnRenderAll(); }
  window.addEventListener('beforeprint', function(){ window.cairnRenderAll(); });
})();
