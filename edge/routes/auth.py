"""Admin authentication: login (and its second-factor step), refresh, logout; and the
signed-in user's own account: who am I, password change, TOTP enrolment."""

from __future__ import annotations

from quart import Response

from actors.domain.principal import Restriction
from actors.usecases.account import (
    ChangePassword,
    ConfirmTotp,
    EnrolTotp,
    MfaStatus,
    PasswordChanged,
    RecoveryCodes,
    TotpEnrolment,
)
from actors.usecases.auth import Login, LoginMfa, Logout, Me, Refresh, TokenPair
from actors.usecases.login_outcomes import LoginAnswer
from edge.api import ApiRouter, body, encoded, no_content
from edge.auth import authenticated, request_meta
from edge.container import container

router = ApiRouter("auth", __name__, tag="auth")

#: Routes a session that must change its password or enrol a second factor may still use.
ANY_RESTRICTION: tuple[Restriction, ...] = ("change_password", "enrol_mfa")


@router.post(
    "/api/v1/auth/login",
    summary="Log in with email and password: a token pair, or a second-factor challenge",
    request=Login,
    response=LoginAnswer,
    auth=None,
    errors=(401, 403, 429),
)
async def login() -> Response:
    cmd = await body(Login)
    return encoded(await container().auth.login(cmd, request_meta()))


@router.post(
    "/api/v1/auth/login/mfa",
    summary="Finish a login with the challenge and a TOTP or recovery code",
    request=LoginMfa,
    response=TokenPair,
    auth=None,
    errors=(401, 429),
)
async def login_mfa() -> Response:
    cmd = await body(LoginMfa)
    return encoded(await container().auth.login_mfa(cmd, request_meta()))


@router.post(
    "/api/v1/auth/refresh",
    summary="Spend a refresh token for a new pair (reusing a spent one ends the session)",
    request=Refresh,
    response=TokenPair,
    auth=None,
    errors=(401, 429),
)
async def refresh() -> Response:
    cmd = await body(Refresh)
    return encoded(await container().auth.refresh(cmd, request_meta()))


@router.post(
    "/api/v1/auth/logout",
    summary="End the session a refresh token belongs to (idempotent)",
    request=Logout,
    status=204,
    auth=None,
)
async def logout() -> Response:
    cmd = await body(Logout)
    await container().auth.logout(cmd, request_meta())
    return no_content()


@router.get("/api/v1/me", summary="The authenticated user", response=Me)
async def me() -> Response:
    who = await authenticated(allow=ANY_RESTRICTION)
    return encoded(container().auth.me(who))


@router.post(
    "/api/v1/me/password",
    summary="Change your password (current and new); your other sessions end",
    request=ChangePassword,
    response=PasswordChanged,
    errors=(429,),
)
async def change_password() -> Response:
    who = await authenticated(allow=("change_password",))
    cmd = await body(ChangePassword)
    return encoded(await container().account.change_password(who, cmd))


@router.get("/api/v1/me/mfa", summary="Your second factor's state", response=MfaStatus)
async def mfa_status() -> Response:
    who = await authenticated(allow=("enrol_mfa",))
    return encoded(await container().account.mfa_status(who))


@router.post(
    "/api/v1/me/mfa/totp",
    summary="Start a TOTP enrolment (password required): the secret and its otpauth URI",
    request=EnrolTotp,
    response=TotpEnrolment,
    status=201,
    errors=(409, 429),
)
async def enrol_totp() -> Response:
    who = await authenticated(allow=("enrol_mfa",))
    cmd = await body(EnrolTotp)
    return encoded(await container().account.enrol_totp(who, cmd), status=201)


@router.post(
    "/api/v1/me/mfa/totp/confirm",
    summary="Confirm the TOTP enrolment with a code: the recovery codes, shown once",
    request=ConfirmTotp,
    response=RecoveryCodes,
    errors=(409,),
)
async def confirm_totp() -> Response:
    who = await authenticated(allow=("enrol_mfa",))
    cmd = await body(ConfirmTotp)
    return encoded(await container().account.confirm_totp(who, cmd))
