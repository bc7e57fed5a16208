"""Authorization like Temporal's: a claim mapper says who calls, an authorizer says
whether they may, for every call on every transport (a `CallInterceptor`).

Credentials missing or not trusted: UNAUTHENTICATED. Trusted but without the role the RPC
needs in its namespace (roles.py): PERMISSION_DENIED "Request unauthorized.", with the
reason in the PermissionDeniedFailure detail. GetSystemInfo stays open (clients call it
to connect), as in Temporal. Each denial is logged at INFO with the subject and the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from perdure.server.errors import PermissionDenied, Unauthenticated
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Call, Next
from perdure.server.security.claims import AuthenticationError, AuthInfo, ClaimMapper, Claims
from perdure.server.security.roles import Scope, granted, rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallTarget:
    """What a call asks for: Temporal's authorization.CallTarget."""

    api_name: str
    namespace: str
    request: Message | None = None


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str = ""


class Authorizer(Protocol):
    """Claims and target -> allow or deny (`claims` is None for an anonymous caller)."""

    def authorize(self, claims: Claims | None, target: CallTarget) -> Decision: ...


class DefaultAuthorizer:
    """Temporal's default rules: the RPC's scope and access level against the caller's
    roles in the target namespace (system roles count in every namespace)."""

    def authorize(self, claims: Claims | None, target: CallTarget) -> Decision:
        needed = rule(target.api_name)
        if needed.scope is Scope.NONE:
            return Decision(True)
        if claims is None:
            return Decision(False, "no credentials")
        if needed.scope is Scope.CLUSTER:
            roles, where = claims.system, "the cluster"
        else:
            roles, where = claims.role_in(target.namespace), f"namespace {target.namespace!r}"
        if needed.access in granted(roles):
            return Decision(True)
        return Decision(
            False,
            f"{target.api_name} needs {needed.access.name.lower()} access in {where}",
        )


def _namespace(request: Message) -> str:
    if "namespace" in request.DESCRIPTOR.fields_by_name:
        value = getattr(request, "namespace", "")
        return value if isinstance(value, str) else ""
    return ""


class AuthorizationInterceptor:
    """Runs the claim mapper and the authorizer before every call."""

    def __init__(self, claim_mapper: ClaimMapper, authorizer: Authorizer | None = None) -> None:
        self.claim_mapper = claim_mapper
        self.authorizer = authorizer or DefaultAuthorizer()

    async def intercept(
        self, call: Call, request: Message, deadline: Deadline, proceed: Next
    ) -> Message:
        info = AuthInfo(call.headers.get("authorization", ""), call.tls_common_name)
        claims: Claims | None = None
        if not info.empty:
            try:
                claims = self.claim_mapper.get_claims(info)
            except AuthenticationError as err:
                log.info("unauthenticated %s from %s: %s", call.method, call.peer, err)
                raise Unauthenticated("Request unauthenticated.") from None
        target = CallTarget(call.method, _namespace(request), request)
        decision = self.authorizer.authorize(claims, target)
        if not decision.allow:
            if claims is None:
                log.info("unauthenticated %s from %s: no credentials", call.method, call.peer)
                raise Unauthenticated("Request unauthenticated.")
            log.info(
                "permission denied: %s from %s (subject %r): %s",
                call.method, call.peer, claims.subject, decision.reason,
            )  # fmt: skip
            raise PermissionDenied("Request unauthorized.", decision.reason)
        return await proceed(request, deadline)
