"""The peer a user would otherwise write: a Python presign service with boto3.

POST /v1/presign with {"bucket", "key", "expires_in"} answers {"url": ...}, signed by boto3's
generate_presigned_url with fixed session credentials (no network: presigning is local).
GET /healthz answers 200. Prints the port it listens on (127.0.0.1, port 0) as its first line.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

CLIENT = boto3.session.Session(
    aws_access_key_id="ASIABENCHEXAMPLE0001",
    aws_secret_access_key="benchSecretKeyExample0123456789abcdefghij",
    aws_session_token="IQoJb3JpZ2luX2VjBENCH" * 20,
    region_name="us-east-1",
).client("s3", config=Config(signature_version="s3v4"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY every keep-alive response
    # waits ~40 ms for a delayed ACK, which would measure the kernel, not boto3.
    disable_nagle_algorithm = True

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200 if self.path == "/healthz" else 404, {"status": "ok"})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length))
        url = CLIENT.generate_presigned_url(
            "get_object",
            Params={"Bucket": request["bucket"], "Key": request["key"]},
            ExpiresIn=int(request["expires_in"]),
        )
        self._send(200, {"url": url, "expires_in": int(request["expires_in"])})

    def log_message(self, *args):
        pass


def main():
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
