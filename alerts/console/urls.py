"""Console routes, mounted at /console/ under the ``console`` namespace."""

from __future__ import annotations

from django.urls import path

from alerts.console.views import alerts, audit, auth, board, cap, history, inbox, setup, situation, staff

app_name = "console"

urlpatterns = [
    path("", situation.situation, name="situation"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("two-factor/", auth.otp_verify_view, name="otp-verify"),
    path("two-factor/enrol/", auth.otp_enrol_view, name="otp-enrol"),
    path("areas/<int:area_id>/board/", board.board, name="board"),
    path("areas/<int:area_id>/board.csv", board.board_csv, name="board-csv"),
    path("areas/<int:area_id>/follow-up/", board.follow_up, name="follow-up"),
    path("areas/<int:area_id>/level/", alerts.change_level, name="change-level"),
    path("alerts/", history.history, name="history"),
    path("alerts/new/", alerts.alert_new, name="alert-new"),
    path("alerts/approvals/", alerts.approvals, name="approvals"),
    path("alerts/<int:alert_id>/", alerts.alert_detail, name="alert"),
    path("alerts/<int:alert_id>/withdraw/", alerts.alert_withdraw, name="alert-withdraw"),
    path("alerts/<int:alert_id>/return/", alerts.alert_return, name="alert-return"),
    path("alerts/<int:alert_id>/approve/", alerts.alert_approve, name="alert-approve"),
    path("alerts/<int:alert_id>/progress/", alerts.alert_progress_page, name="alert-progress"),
    path("alerts/<int:alert_id>/progress.json", alerts.alert_progress_json, name="alert-progress-json"),
    path("alerts/<int:alert_id>/cap.xml", cap.alert_cap, name="alert-cap"),
    path("alerts/<int:alert_id>/abort/", alerts.alert_abort, name="alert-abort"),
    path("alerts/<int:alert_id>/resend-unknown/", alerts.alert_resend_unknown, name="alert-resend-unknown"),
    path("alerts/<int:alert_id>/correct/", alerts.alert_correct, name="alert-correct"),
    path("messages/", inbox.inbox, name="inbox"),
    path("messages/<int:message_id>/handled/", inbox.inbox_handled, name="inbox-handled"),
    path("audit/", audit.audit_list, name="audit"),
    path("templates/", setup.template_list, name="templates"),
    path("templates/<int:level>/<str:language>/", setup.template_edit, name="template-edit"),
    path("areas/", setup.area_list, name="areas"),
    path("areas/<int:area_id>/names/", setup.area_names, name="area-names"),
    path("staff/", staff.staff_list, name="staff"),
    path("staff/new/", staff.staff_create, name="staff-create"),
    path("staff/<int:user_id>/", staff.staff_update, name="staff-update"),
    path("staff/<int:user_id>/deactivate/", staff.staff_deactivate, name="staff-deactivate"),
    path("staff/<int:user_id>/reactivate/", staff.staff_reactivate, name="staff-reactivate"),
    path("staff/<int:user_id>/unlock/", staff.staff_unlock, name="staff-unlock"),
]
