"""llama.cpp's OpenAI-compatible server (llama-cpp-python) for the cloud-routing tests, with a
request log: every request's method, path and body is appended to --request-log before the
real server sees it, so a test can check what reached "the cloud".

Run by tests/common/llama_server.rs with the venv scripts/llama_server.sh builds.
"""
import argparse

import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings


class LogRequests:
    """ASGI middleware: appends each HTTP request (method, path, body) to a file."""

    def __init__(self, app, path):
        self.app = app
        self.path = path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        with open(self.path, "ab") as f:
            f.write(f"{scope['method']} {scope['path']}\n".encode())

        async def logged():
            message = await receive()
            if message["type"] == "http.request":
                with open(self.path, "ab") as f:
                    f.write(message.get("body", b""))
                    if not message.get("more_body"):
                        f.write(b"\n")
            return message

        await self.app(scope, logged, send)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--api-key", default=None)
    p.add_argument("--request-log", required=True)
    p.add_argument("--chat-format", default=None)
    a = p.parse_args()
    server = ServerSettings(host="127.0.0.1", port=a.port, api_key=a.api_key)
    model = ModelSettings(
        model=a.model,
        model_alias="smollm2",
        n_ctx=2048,
        n_threads=1,
        n_threads_batch=1,
        chat_format=a.chat_format,
        verbose=False,
    )
    app = create_app(server_settings=server, model_settings=[model])
    uvicorn.run(LogRequests(app, a.request_log), host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
