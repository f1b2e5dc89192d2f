#!/usr/bin/env python3
"""Plays Cognito for authgate's retry tests, on loopback: a small user pool (SignUp, AdminConfirmSignUp,
InitiateAuth and AdminInitiateAuth with passwords or refresh tokens) that answers as Cognito does where moto
does not (UserNotConfirmedException from both InitiateAuth flows, after the password is checked), and, per
operation, a scripted sequence of bad moments before it answers normally.

    cognito_script.py --port P --script script.json --log requests.jsonl --state users.json

script.json maps an operation ("SignUp", "AdminInitiateAuth", or "AdminInitiateAuth:REFRESH_TOKEN_AUTH" for
one flow) to the steps its next requests get, one each, then "ok" for ever:
    "ok"              answer normally
    "throttle"        400 TooManyRequestsException
    "500", "503"...   that status, with InternalErrorException
    "close"           close the connection without an answer
    "slow:SECONDS"    do the work, then wait that long before answering (an answer a timed-out client never reads)
    "exception:NAME"  400 with that __type
Every request is appended to the log (operation, flow, step, username); the users are written to the state
file after every change. Neither SigV4 nor SECRET_HASH is checked: the AWSTests prove those.
"""
import argparse
import base64
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--script", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--state", required=True)
arguments = parser.parse_args()

with open(arguments.script) as file:
    script = {operation: list(steps) for operation, steps in json.load(file).items()}
lock = threading.Lock()
users = {}  # username -> {"password", "confirmed", "sub"}
refresh_tokens = {}  # token -> username


class Refusal(Exception):
    def __init__(self, name, message):
        super().__init__(message)
        self.name = name
        self.message = message


def write_state():
    temporary = arguments.state + ".tmp"
    with open(temporary, "w") as file:
        json.dump(users, file)
    os.replace(temporary, arguments.state)


def unsigned_token(claims):
    """A JWT-shaped token whose payload authgate reads (the sub) but never verifies: it came from 'Cognito'."""
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return "%s.%s.c2ln" % (part({"alg": "RS256", "kid": "scripted"}), part(claims))


def tokens_for(username, with_refresh):
    sub = users[username]["sub"]
    result = {
        "IdToken": unsigned_token({"sub": sub, "token_use": "id", "cognito:username": username}),
        "AccessToken": unsigned_token({"sub": sub, "token_use": "access", "username": username}),
        "ExpiresIn": 3600,
        "TokenType": "Bearer",
    }
    if with_refresh:
        token = "refresh-" + uuid.uuid4().hex
        refresh_tokens[token] = username
        result["RefreshToken"] = token
    return {"AuthenticationResult": result}


def sign_up(request):
    username, password = request["Username"], request["Password"]
    if username in users:
        raise Refusal("UsernameExistsException", "User already exists")
    if len(password) < 8:
        raise Refusal("InvalidPasswordException", "Password did not conform with policy: Password not long enough")
    users[username] = {"password": password, "confirmed": False, "sub": str(uuid.uuid4())}
    write_state()
    return {"UserConfirmed": False, "UserSub": users[username]["sub"]}


def admin_confirm_sign_up(request):
    user = users.get(request["Username"])
    if user is None:
        raise Refusal("UserNotFoundException", "User does not exist.")
    if user["confirmed"]:
        raise Refusal("NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED")
    user["confirmed"] = True
    write_state()
    return {}


def initiate_auth(request):
    parameters = request.get("AuthParameters", {})
    if request["AuthFlow"] == "REFRESH_TOKEN_AUTH":
        username = refresh_tokens.get(parameters.get("REFRESH_TOKEN", ""))
        if username is None:
            raise Refusal("NotAuthorizedException", "Invalid Refresh Token")
        return tokens_for(username, with_refresh=False)
    username = parameters.get("USERNAME", "")
    user = users.get(username)
    if user is None:
        raise Refusal("UserNotFoundException", "User does not exist.")
    if user["password"] != parameters.get("PASSWORD"):
        raise Refusal("NotAuthorizedException", "Incorrect username or password.")
    if not user["confirmed"]:
        raise Refusal("UserNotConfirmedException", "User is not confirmed.")
    return tokens_for(username, with_refresh=True)


def global_sign_out(request):
    # The access token is not checked: a test asks which endpoint a sign-out went to.
    return {}


OPERATIONS = {
    "GlobalSignOut": global_sign_out,
    "SignUp": sign_up,
    "AdminConfirmSignUp": admin_confirm_sign_up,
    "InitiateAuth": initiate_auth,
    "AdminInitiateAuth": initiate_auth,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        flow = request.get("AuthFlow")
        username = request.get("Username") or request.get("AuthParameters", {}).get("USERNAME")
        with lock:
            queue = script.get("%s:%s" % (operation, flow)) if flow else None
            if not queue:
                queue = script.get(operation)
            step = queue.pop(0) if queue else "ok"
            with open(arguments.log, "a") as log:
                log.write(json.dumps({"operation": operation, "flow": flow, "step": step, "username": username}) + "\n")
            if step == "ok" or step.startswith("slow:"):
                try:
                    handler = OPERATIONS.get(operation)
                    if handler is None:
                        raise Refusal("UnknownOperationException", operation)
                    status, document = 200, handler(request)
                except Refusal as refusal:
                    status, document = 400, {"__type": refusal.name, "message": refusal.message}
        if step == "close":
            self.close_connection = True
            return
        if step == "throttle":
            status, document = 400, {"__type": "TooManyRequestsException", "message": "Rate exceeded"}
        elif step.isdigit():
            status, document = int(step), {"__type": "InternalErrorException", "message": "scripted"}
        elif step.startswith("exception:"):
            status, document = 400, {"__type": step.partition(":")[2], "message": "scripted"}
        elif step.startswith("slow:"):
            time.sleep(float(step.partition(":")[2]))
        try:
            self.answer(status, document)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on this attempt


with lock:
    write_state()
server = ThreadingHTTPServer(("127.0.0.1", arguments.port), Handler)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
