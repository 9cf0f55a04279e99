"""Console routes, mounted at /console/ under the ``console`` namespace."""

from __future__ import annotations

from django.urls import path

from alerts.console.views import audit, auth, board, history, situation

app_name = "console"

urlpatterns = [
    path("", situation.situation, name="situation"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("two-factor/", auth.otp_verify_view, name="otp-verify"),
    path("two-factor/enrol/", auth.otp_enrol_view, name="otp-enrol"),
    path("areas/<int:area_id>/board/", board.board, name="board"),
    path("areas/<int:area_id>/board.csv", board.board_csv, name="board-csv"),
    path("alerts/", history.history, name="history"),
    path("audit/", audit.audit_list, name="audit"),
]
