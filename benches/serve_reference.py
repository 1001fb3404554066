"""Reference endpoint for scripts/bench-serve.sh: the SageMaker XGBoost
algorithm-mode contract on the real xgboost, served the way the container
serves it (Flask app under gunicorn, one worker per CPU, gevent workers,
keep-alive, booster nthread=1).

Written for the benchmark from the container's documented behaviour, not
copied from it: text/csv requests (delimiter sniffed on the first line,
empty field = NaN), xgboost Booster.predict(validate_features=False), and
the 1.2-2+ text/csv response (one prediction per line, Python float repr).

    PYTHONPATH=<flask+gunicorn+gevent> python serve_reference.py MODEL PORT

MODEL is the model file packed in the archive (xgboost-model); PORT on
127.0.0.1. Without gunicorn it falls back to a threading http.server.
"""

import csv
import http.server
import io
import multiprocessing
import sys

import numpy as np
import xgboost as xgb

MODEL_PATH = sys.argv[1]
PORT = int(sys.argv[2])

_booster = None


def booster():
    global _booster
    if _booster is None:
        b = xgb.Booster()
        b.load_model(MODEL_PATH)
        b.set_param("nthread", 1)
        _booster = b
    return _booster


def answer(body, content_type):
    """(status, content type, bytes) for one /invocations request."""
    if not body:
        return 204, "text/html; charset=utf-8", b""
    if (content_type or "").split(";")[0].strip().lower() not in ("text/csv", "csv"):
        return 415, "text/html; charset=utf-8", b"only text/csv in this reference"
    try:
        text = body.strip().decode("utf-8")
        first = text.split("\n")[0][:512]
        sep = csv.Sniffer().sniff(first).delimiter
        if sep.isalnum():
            sep = ","
        rows = [["nan" if f == "" else f for f in line.split(sep)] for line in text.split("\n")]
        dmat = xgb.DMatrix(np.array(rows).astype(float))
    except Exception as e:  # noqa: BLE001 - the container answers 415 for any parse failure
        return 415, "text/html; charset=utf-8", str(e).encode()
    try:
        preds = booster().predict(dmat, validate_features=False)
    except Exception as e:  # noqa: BLE001
        return 400, "text/html; charset=utf-8", ("Unable to evaluate payload provided: %s" % e).encode()
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    arr = np.array(preds.tolist())
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    w.writerows(arr)
    return 200, "text/csv; charset=utf-8", out.getvalue().encode()


def wsgi_app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    if path == "/ping" and method == "GET":
        booster()
        status, ctype, data = 200, "text/html; charset=utf-8", b""
    elif path == "/invocations" and method == "POST":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n) if n else b""
        status, ctype, data = answer(body, environ.get("CONTENT_TYPE"))
    else:
        status, ctype, data = 404, "text/html; charset=utf-8", b"not found"
    reason = {200: "OK", 204: "NO CONTENT", 400: "BAD REQUEST", 404: "NOT FOUND", 415: "UNSUPPORTED MEDIA TYPE"}
    start_response(
        "%d %s" % (status, reason.get(status, "")),
        [("Content-Type", ctype), ("Content-Length", str(len(data)))],
    )
    return [data]


try:
    import flask
except ImportError:
    flask = None

if flask is not None:
    # The container's stack: a Flask app (serve.py's routes).
    app = flask.Flask(__name__)

    @app.route("/ping", methods=["GET"])
    def ping():
        booster()
        return flask.Response(status=200)

    @app.route("/invocations", methods=["POST"])
    def invocations():
        status, ctype, data = answer(flask.request.data, flask.request.content_type)
        return flask.Response(response=data, status=status, content_type=ctype)

    wsgi = app
else:
    wsgi = wsgi_app


def main():
    try:
        import gunicorn.app.base as gab
    except ImportError:
        gab = None
    if gab is not None:

        class App(gab.BaseApplication):
            def load_config(self):
                self.cfg.set("bind", "127.0.0.1:%d" % PORT)
                self.cfg.set("workers", multiprocessing.cpu_count())
                try:
                    import gevent  # noqa: F401

                    self.cfg.set("worker_class", "gevent")
                except ImportError:
                    self.cfg.set("worker_class", "gthread")
                self.cfg.set("keepalive", 60)
                self.cfg.set("loglevel", "warning")
                self.cfg.set("post_worker_init", lambda worker: booster())

            def load(self):
                return wsgi

        App().run()
        return

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, status, ctype, data):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/ping":
                booster()
                self._reply(200, "text/html; charset=utf-8", b"")
            else:
                self._reply(404, "text/html; charset=utf-8", b"not found")

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            if self.path != "/invocations":
                self._reply(404, "text/html; charset=utf-8", b"not found")
                return
            self._reply(*answer(body, self.headers.get("Content-Type")))

    booster()
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()


if __name__ == "__main__":
    main()
