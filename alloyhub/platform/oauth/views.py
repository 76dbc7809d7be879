"""OAuth/OIDC endpoints (discovery, JWKS, authorize + consent, token,
revocation, introspection, userinfo), single sign-on, and the settings pages
for tokens, OAuth clients and SSO."""
from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from .. import permissions as perms
from ..auth import current_principal, requires
from ..db import db
from ..errors import AppError, PermissionDenied, problem
from ..identity import services as identity
from ..identity.models import User
from . import keys, services, sso
from .models import PersonalAccessToken
from .server import authorization, issuer, require_oauth, user_info

bp = Blueprint("oauth", __name__, template_folder="templates")



def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    """Marks a string for extraction without translating it here."""
    return message


# Fixed messages raised in English by this room's services; listed so that
# extraction puts them in the catalogue and the `tr` filter translates them
# on pages (as identity/views.py does).
SERVICE_MESSAGES = (
    N_("Choose at least one permission."), N_("Add at least one redirect URI."),
    N_("An integration using client credentials needs a secret."),
    N_("Enter the client id the identity provider gave you."), N_("Enter the client secret."),
    N_("Enter the client secret again."), N_("Enter the issuer URL, e.g. https://login.example.com"),
    N_("The issuer must use https."), N_("Must not contain NUL characters."), N_("No such OAuth client"),
    N_("No such token"), N_("Only a person can hold a personal access token"),
    N_("Single sign-on is not configured"), N_("Choose between 1 and 365 days."),
    N_("The stored SSO client secret cannot be read; enter it again"),
    N_("Authorize applications from a signed-in browser session"),
    N_("No company with that short name uses single sign-on"),
    N_("The sign-in attempt expired or did not start here; start again"),
    N_("Single sign-on is no longer configured for this company"),
    N_("The identity provider could not be reached; try again later"),
    N_("The identity provider did not accept the sign-in; start again"),
    N_("The identity provider did not confirm a verified e-mail address"),
    N_("The identity provider's discovery document names another issuer"),
    N_("The identity provider returned no id_token"), N_("The id_token names another issuer"),
    N_("Single sign-on failed"), N_("This token does not belong to a person"),
)

# Authenticated by client credentials or a bearer token, never by cookies.
CSRF_EXEMPT = ["oauth.token", "oauth.revoke", "oauth.introspect", "oauth.userinfo"]


# ---------------------------------------------------------------- OpenID Connect discovery

@bp.route("/.well-known/openid-configuration")
@requires(perms.PUBLIC)
def openid_configuration():
    base = issuer()
    return jsonify({
        "issuer": base,
        "authorization_endpoint": base + url_for("oauth.authorize"),
        "token_endpoint": base + url_for("oauth.token"),
        "userinfo_endpoint": base + url_for("oauth.userinfo"),
        "jwks_uri": base + url_for("oauth.jwks"),
        "revocation_endpoint": base + url_for("oauth.revoke"),
        "introspection_endpoint": base + url_for("oauth.introspect"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(services.OIDC_SCOPES) + sorted(perms.REGISTRY),
        "claims_supported": ["sub", "name", "email", "email_verified", "locale", "nonce", "auth_time"],
    })


@bp.route("/oauth/jwks")
@requires(perms.PUBLIC)
def jwks():
    data = keys.jwks()
    for key in data["keys"]:
        key.update({"use": "sig", "alg": "RS256"})
    return jsonify(data)


# ---------------------------------------------------------------- authorization code flow

@bp.route("/oauth/authorize", methods=["GET", "POST"])
@requires(perms.PUBLIC)  # the person is checked below: anonymous visitors are sent to sign in
def authorize():
    principal = current_principal()
    if principal is None or principal.user_id is None:
        return redirect(url_for("identity.sign_in", next=request.full_path))
    if principal.via != "session":
        # Consent is a person's act in a browser; a token must not mint wider tokens.
        raise PermissionDenied("Authorize applications from a signed-in browser session")
    if principal.tenant_id is None:
        return redirect(url_for("identity.choose_tenant"))
    user = db.session.get(User, principal.user_id)
    try:
        grant = authorization.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _oauth_error_page(error)
    if request.method == "GET":
        scopes = (grant.request.scope or "").split()
        return render_template(
            "oauth/consent.html", client=grant.client, tenant=identity.current_tenant(),
            scopes=[(s, perms.REGISTRY.get(s)) for s in scopes],
            missing=[s for s in scopes if s in perms.REGISTRY and s not in principal.permissions],
        )
    approved = request.form.get("decision") == "allow"
    return authorization.create_authorization_response(grant=grant, grant_user=user if approved else None)


def _oauth_error_page(error: OAuth2Error):
    return render_template("oauth/error.html", error=error.error, description=error.description), error.status_code


@bp.route("/oauth/token", methods=["POST"])
@requires(perms.PUBLIC)  # the client authenticates itself (RFC 6749 §2.3)
def token():
    return authorization.create_token_response()


@bp.route("/oauth/revoke", methods=["POST"])
@requires(perms.PUBLIC)  # the client authenticates itself (RFC 7009)
def revoke():
    return authorization.create_endpoint_response("revocation")


@bp.route("/oauth/introspect", methods=["POST"])
@requires(perms.PUBLIC)  # the client authenticates itself (RFC 7662)
def introspect():
    return authorization.create_endpoint_response("introspection")


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@requires(perms.PUBLIC)  # authlib's resource protector checks the token and its openid scope
def userinfo():
    try:
        token = require_oauth.acquire_token(["openid"])
    except OAuth2Error as error:
        return problem(error.status_code, "unauthorized" if error.status_code == 401 else "forbidden",
                       "Invalid access token", error.description or error.error,
                       headers={k: v for k, v in error.get_headers() if k.lower() == "www-authenticate"})
    user = db.session.get(User, token.user_id) if token.user_id else None
    if user is None or services.token_permissions(token) is None:
        raise PermissionDenied("This token does not belong to a person")
    return jsonify(dict(user_info(user, token.scope)))


# ---------------------------------------------------------------- single sign-on (relying party)

@bp.route("/sso", methods=["GET", "POST"])
@requires(perms.PUBLIC)
def sso_entry():
    slug = (request.values.get("company") or "").strip().lower()
    if slug:
        return redirect(url_for("oauth.sso_start", slug=slug))
    return render_template("oauth/sso_entry.html")


@bp.route("/sso/<slug>")
@requires(perms.PUBLIC)
def sso_start(slug: str):
    try:
        url, remembered = sso.begin(slug)
    except AppError as exc:
        return render_template("oauth/sso_entry.html", error=exc.detail, company=slug), exc.status
    session["sso"] = remembered
    return redirect(url)


@bp.route("/sso/callback")
@requires(perms.PUBLIC)
def sso_callback():
    user, tenant = sso.finish(session.pop("sso", None), request.args)
    identity.start_session(session, user, tenant.id)
    flash(_("Signed in to %(name)s with single sign-on.", name=tenant.name), "success")
    return redirect(url_for("web.home"))


# ---------------------------------------------------------------- settings pages

def _errors(exc: AppError) -> dict:
    return exc.errors or {"__all__": [exc.detail]}


@bp.route("/settings/tokens", methods=["GET", "POST"])
@requires(perms.AUTHENTICATED)
def tokens_page():
    principal = current_principal()
    errors, new_token, form = {}, None, request.form
    if principal.tenant_id is None:
        return redirect(url_for("identity.choose_tenant"))
    if request.method == "POST":
        try:
            days = int(form.get("expires_in_days", "30"))
        except ValueError:
            days = 0
        try:
            _pat, new_token = services.create_pat(name=form.get("name", ""), scopes=form.getlist("scopes"),
                                                  expires_in_days=days)
        except AppError as exc:
            errors = _errors(exc)
    tokens = db.session.scalars(services.pats_query(principal.user_id)
                                .order_by(PersonalAccessToken.created_at.desc())).all()
    status = 422 if errors else (201 if new_token else 200)
    return render_template("oauth/tokens.html", tokens=tokens, errors=errors, new_token=new_token,
                           form=form if errors else {},
                           permissions=[p for n, p in sorted(perms.REGISTRY.items()) if n in principal.permissions],
                           max_days=services.PAT_MAX_DAYS), status


@bp.route("/settings/tokens/<uuid:token_id>/revoke", methods=["POST"])
@requires(perms.AUTHENTICATED)
def revoke_token_page(token_id):
    pat = services.revoke_pat(services.get_pat(token_id, current_principal().user_id))
    flash(_("Token “%(name)s” revoked.", name=pat.name), "success")
    return redirect(url_for("oauth.tokens_page"))


@bp.route("/settings/oauth-clients", methods=["GET", "POST"])
@requires(perms.TOKENS_ADMIN)
def clients_page():
    principal = current_principal()
    errors, created, secret, form = {}, None, None, request.form
    if request.method == "POST":
        try:
            created, secret = services.create_client(
                name=form.get("name", ""), kind=form.get("kind", ""), scopes=form.getlist("scopes"),
                redirect_uris=form.get("redirect_uris", "").split(), public=form.get("public") == "on")
        except AppError as exc:
            errors = _errors(exc)
    clients = db.session.scalars(services.clients_query().order_by(services.OAuthClient.created_at)).all()
    permissions = [p for n, p in sorted(perms.REGISTRY.items()) if n in principal.permissions]
    return render_template("oauth/clients.html", clients=clients, errors=errors, created=created, secret=secret,
                           form=form if errors else {}, permissions=permissions,
                           oidc_scopes=services.OIDC_SCOPES), 422 if errors else (201 if created else 200)


@bp.route("/settings/oauth-clients/<uuid:client_pk>/delete", methods=["POST"])
@requires(perms.TOKENS_ADMIN)
def delete_client_page(client_pk):
    client = services.get_client(client_pk)
    name = client.name
    services.delete_client(client)
    flash(_("OAuth client “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("oauth.clients_page"))


@bp.route("/settings/sso", methods=["GET", "POST"])
@requires(perms.TENANT_ADMIN)
def sso_page():
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            services.put_sso_config(
                issuer=form.get("issuer", ""), client_id=form.get("client_id", ""),
                client_secret=form.get("client_secret") or None,
                domains=[d for d in form.get("domains", "").replace(",", " ").split() if d],
                enabled=form.get("enabled") == "on")
        except AppError as exc:
            errors = _errors(exc)
        else:
            flash(_("Single sign-on settings saved."), "success")
            return redirect(url_for("oauth.sso_page"))
    return render_template("oauth/sso_settings.html", view=services.sso_overview(), errors=errors,
                           form=form if errors else None), 422 if errors else 200

