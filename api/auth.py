"""Who is calling the API: an agent (alk_ token) or a person (alp_ token or a session).

Agent tokens can never approve anything: IsPerson refuses them with 403."""

import logging
from dataclasses import dataclass

from django.db import Error as DatabaseFailure
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from approvals.eligibility import is_person
from approvals.tokens import PERSONAL_KIND, user_for_personal_token
from governance.agents import agent_for_token_prefix
from governance.errors import NotEligible, Unavailable
from governance.models import Agent
from governance.tokens import token_matches, token_prefix

AGENT_KIND = "alk"
logger = logging.getLogger("airlock.api")


@dataclass(frozen=True)
class AgentPrincipal:
    """request.user for agent calls. Not a person: it can never approve anything."""

    agent: Agent
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    def get_username(self) -> str:
        return f"agent:{self.agent.name}"


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value; None for anything else.
    The one parser of the header: DRF authentication and the ASGI long-poll both use it."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def bearer(request) -> str | None:
    return bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))


def agent_for_token(token: str) -> Agent | None:
    prefix = token_prefix(token, AGENT_KIND)
    if prefix is None:
        return None
    found = agent_for_token_prefix(prefix)
    if found is None or not token_matches(token, found[0]):
        return None
    return found[1]


def agent_for_token_checked(token: str) -> Agent | None:
    """agent_for_token, but a token that cannot be checked raises Unavailable: the contract's
    503 deny, never a 500."""
    try:
        return agent_for_token(token)
    except DatabaseFailure as exc:
        logger.warning("agent token lookup failed (%s: %s); answering 503 deny", type(exc).__name__, exc)
        raise Unavailable(f"decision store unavailable ({type(exc).__name__}); treat as deny") from exc


class AgentTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer alk_...`; unknown, malformed or revoked → 401."""

    def authenticate(self, request):
        token = bearer(request)
        if token is None:
            if request.META.get("HTTP_AUTHORIZATION"):
                raise exceptions.AuthenticationFailed("Authorization must be 'Bearer <agent token>'")
            return None
        if not token.startswith(f"{AGENT_KIND}_"):
            return None  # maybe a person's token; another authenticator may take it
        agent = agent_for_token_checked(token)
        if agent is None:
            raise exceptions.AuthenticationFailed("unknown or revoked token")
        return AgentPrincipal(agent), token

    def authenticate_header(self, request):
        return 'Bearer realm="airlock"'


class IsAgent(permissions.BasePermission):
    def has_permission(self, request, view):
        if not isinstance(request.user, AgentPrincipal):
            raise exceptions.NotAuthenticated("an agent token is required: Authorization: Bearer alk_...")
        return True


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = AgentTokenAuthentication
    name = "agentToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Agent token (alk_...), shown once at creation"}


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer alp_...`. Agent tokens are left to AgentTokenAuthentication;
    any other bearer value is 401 (never silently ignored in favour of a session)."""

    def authenticate(self, request):
        token = bearer(request)
        if token is None or token.startswith(f"{AGENT_KIND}_"):
            return None
        if not token.startswith(f"{PERSONAL_KIND}_"):
            raise exceptions.AuthenticationFailed("unknown token")
        user = user_for_personal_token(token)
        if user is None:
            raise exceptions.AuthenticationFailed("unknown or revoked token")
        return user, token

    def authenticate_header(self, request):
        return 'Bearer realm="airlock"'


class IsPerson(permissions.BasePermission):
    """A logged-in person; agents get 403 whatever they ask."""

    def has_permission(self, request, view):
        if isinstance(request.user, AgentPrincipal):
            raise NotEligible("agent tokens can never approve or deny", code="agent_forbidden")
        if not is_person(request.user):
            raise exceptions.NotAuthenticated("log in or send a personal API token")
        return True


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = PersonalTokenAuthentication
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "a person's token: alp_..."}
