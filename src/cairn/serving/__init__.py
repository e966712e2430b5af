"""Serving: a fast, safe JSON API for a model bundle, with a prediction log,
A/B and shadow routing, and a load-test client.

Heavy modules (FastAPI, ONNX Runtime) load on first use, so importing this
package stays cheap.
"""
