import os

from flask import Flask

app = Flask(__name__)
# ruleid: flask-debug-enabled
app.config["DEBUG"] = True


@app.route("/")
def index():
    return "ok"


def create_app():
    api = Flask("api")
    # ruleid: flask-debug-enabled
    api.debug = True
    return api


if __name__ == "__main__":
    # ruleid: flask-debug-enabled
    app.run(host="0.0.0.0", debug=True)
    # ok: flask-debug-enabled
    app.run(debug=os.environ.get("FLASK_DEBUG") == "1")


class Runner:
    def run(self, debug=False):
        return debug


# ok: flask-debug-enabled
Runner().run(debug=True)
