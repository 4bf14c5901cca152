from __future__ import annotations

from django.urls import path

from annotator.accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", views.logout, name="logout"),
    path("accounts/password/", views.password_change, name="password_change"),
    path("accounts/password/done/", views.password_change_done, name="password_change_done"),
    path("workspace/", views.workspace_settings, name="workspace_settings"),
    path("workspace/switch/", views.workspace_switch, name="workspace_switch"),
]
