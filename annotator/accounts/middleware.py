from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from annotator.accounts.models import Workspace

# No 'unsafe-inline' and no 'unsafe-eval': every script and style comes from
# our own static files. Attachments and results are shown from wherever the
# customer hosts them, so images and media may come from any http(s) origin.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https: http:",
        "media-src 'self' blob: https: http:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def content_security_policy(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.setdefault("Content-Security-Policy", CSP)
        return response

    return middleware


SESSION_KEY = "workspace"


def current_workspace(get_response: Callable[[HttpRequest], HttpResponse]):
    """Sets request.workspace: the one chosen in the session, else the user's first."""

    def middleware(request: HttpRequest) -> HttpResponse:
        request.workspace = None
        if request.user.is_authenticated:
            mine = Workspace.objects.filter(members=request.user)
            chosen = request.session.get(SESSION_KEY)
            workspace = mine.filter(code=chosen).first() if chosen else None
            request.workspace = workspace or mine.first()
        return get_response(request)

    return middleware
