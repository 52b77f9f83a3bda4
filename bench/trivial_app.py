"""The yardstick: one `async def` route returning a small JSON, and nothing else.

`python -m bench` serves it with one uvicorn process started as the Procfile
starts an API (same flags), and measures it with the same wrk load as the
reads; every figure of the stack is then also shown as a ratio to it, which
says what the stack costs beyond FastAPI and uvicorn themselves on this machine,
however fast or busy the machine is.
"""

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(title="trivial")

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    return app
