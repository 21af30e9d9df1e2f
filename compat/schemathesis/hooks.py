"""schemathesis hooks for opencvm: the error-envelope check, and keeping the run's own API key alive.

Every 4xx (and 5xx) answer of the API is the one error envelope of packages/contract/src/errors.ts:
``{"detail": {"error_code": "ERR-xx-yyy", "message": "…", "details": [...], "suggestions": [...],
"links": [...], "request_id"?: "…"}}`` plus the same fields, equal to detail's, at the top level (where the
Python SDK reads them), strict (no other key). The OpenAPI document says so too, but only for
the statuses an operation declares; this check holds every 4xx to it, declared or not (a 405 or 404 for a
method or path the document does not have, too). The guest KMS (/kms/prpc/…) adds dstack's pRPC `error`.
"""
import json
import os
import re
import urllib.request

import schemathesis

CODE = re.compile(r"^ERR-\d{2}-\d{3}$")
DETAIL_KEYS = {"error_code", "message", "details", "suggestions", "links", "request_id"}


def _envelope_problem(body, guest_kms):
    # the guest KMS (/kms/prpc/…) puts dstack's pRPC `{"error": message}` beside the envelope, for its guests
    if not isinstance(body, dict) or "detail" not in body:
        return "the body is not an object with a `detail`"
    d = body["detail"]
    if not isinstance(d, dict):
        return "`detail` is not an object"
    keys = {"detail", *d} | ({"error"} if guest_kms else set())
    if set(body) != keys:
        return f"the body's keys are not `detail` and detail's own ({sorted(keys)}): {sorted(body)}"
    for k in d:
        if body[k] != d[k]:
            return f"the top-level `{k}` is not `detail.{k}`"
    if guest_kms and body["error"] != d.get("message"):
        return "`error` is not the envelope's message"
    missing = {"error_code", "message", "details", "suggestions", "links"} - set(d)
    if missing:
        return f"`detail` lacks {sorted(missing)}"
    extra = set(d) - DETAIL_KEYS
    if extra:
        return f"`detail` has keys the envelope does not declare: {sorted(extra)}"
    if not isinstance(d["error_code"], str) or not CODE.match(d["error_code"]):
        return f"`detail.error_code` is not of the form ERR-xx-yyy: {d['error_code']!r}"
    if not isinstance(d["message"], str) or not d["message"].strip():
        return "`detail.message` is not a non-empty text"
    if not isinstance(d["details"], list) or not all(isinstance(x, dict) for x in d["details"]):
        return "`detail.details` is not a list of objects"
    if not isinstance(d["suggestions"], list) or not all(isinstance(x, str) for x in d["suggestions"]):
        return "`detail.suggestions` is not a list of texts"
    if not isinstance(d["links"], list) or not all(
        isinstance(x, dict) and set(x) == {"label", "url"} for x in d["links"]
    ):
        return "`detail.links` is not a list of {label, url}"
    if "request_id" in d and not isinstance(d["request_id"], str):
        return "`detail.request_id` is not a text"
    return None


@schemathesis.check
def error_envelope(ctx, response, case):
    """Every 4xx answer is the error envelope (JSON, `{"detail": {error_code: ERR-xx-yyy, message, …}, error_code, message, …}`)."""
    if not 400 <= response.status_code < 500:
        return None
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    if not ctype.lower().startswith("application/json"):
        raise AssertionError(
            f"{response.status_code} answered as {ctype or 'no content type'}, not the JSON error envelope"
        )
    try:
        body = response.json()
    except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
        raise AssertionError(f"{response.status_code} body is not JSON: {exc}") from None
    problem = _envelope_problem(body, case.path.startswith("/kms/prpc/"))
    if problem:
        raise AssertionError(f"{response.status_code} is not the error envelope: {problem}")
    return True


# --- the run's own API key ---------------------------------------------------------------------------------
# `DELETE /api/v1/tokens/{token_id}` revokes a token of the workspace, the caller's own included (as Phala's API
# does). schemathesis tries small ids, and the bootstrap key is token 1: revoking it would turn every later
# request into a 401 and test nothing. So, before the run, a spare token is made, and a DELETE aimed at the key
# in use is sent to the spare instead (the same operation, on a token that may go).

def _api(method, path, body=None):
    req = urllib.request.Request(
        os.environ["PHALA_CLOUD_API_PREFIX"] + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-API-Key": os.environ["PHALA_CLOUD_API_KEY"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


_own_token_ids = None
_spare_token_id = None


def _token_ids():
    global _own_token_ids, _spare_token_id
    if _own_token_ids is None:
        key = os.environ["PHALA_CLOUD_API_KEY"]
        listed = _api("GET", "/tokens")
        tokens = listed if isinstance(listed, list) else listed.get("items") or listed.get("tokens") or []
        _own_token_ids = {
            str(t["id"]) for t in tokens if t.get("token_prefix") and key.startswith(t["token_prefix"])
        }
        if not _own_token_ids:
            raise RuntimeError("the API key in use is not among GET /api/v1/tokens's answer")
        _spare_token_id = str(_api("POST", "/tokens", {"name": "schemathesis spare"})["id"])
    return _own_token_ids, _spare_token_id


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() == "DELETE" and case.path == "/api/v1/tokens/{token_id}":
        own, spare = _token_ids()
        if str((case.path_parameters or {}).get("token_id")) in own:
            case.path_parameters["token_id"] = spare


# --- overlapping paths -----------------------------------------------------------------------------------
# The document has literal paths beside templated ones that also match them: /api/v1/cvms/provision and
# /api/v1/cvms/paginated beside /api/v1/cvms/{id}, /api/v1/user/ssh-keys/github-sync beside
# /api/v1/user/ssh-keys/{key_id}, /api/v1/workspaces/check-slug beside /api/v1/workspaces/{slug}… The server's
# `Allow` on such a path rightly lists the methods the templated path serves there too (GET
# /api/v1/cvms/provision is GET /api/v1/cvms/{id} with the id "provision"); allow_header_conformance counts
# only the literal path's. Such a finding is dropped when no documented method is missing from `Allow` and every
# extra method is one a templated path of the document declares for this path. (A per-operation
# `allow_header_conformance` switch in schemathesis.toml is not honoured by the coverage phase's OPTIONS probe.)

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _template_methods(paths, path):
    methods = set()
    for template, ops in paths.items():
        if template == path or "{" not in template:
            continue
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods |= {m.upper() for m in ops if m in _METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return methods


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if getattr(failure, "code", None) != "ST205" or failure.missing_methods:
        return True
    paths = case.operation.schema.raw_schema.get("paths", {})
    return not set(failure.undocumented_methods) <= _template_methods(paths, case.operation.path)
