"""Failures a caller can act on. The API maps each to the JSON error shape of SPEC §4."""


class AirlockError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInput(AirlockError):
    status, code = 400, "invalid_request"


class NotFound(AirlockError):
    status, code = 404, "not_found"


class Conflict(AirlockError):
    status, code = 409, "conflict"


class NotEligible(AirlockError):
    status, code = 403, "not_eligible"


class Unavailable(AirlockError):
    status, code = 503, "governance_unavailable"
