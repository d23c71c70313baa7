"""Teams tables: each team of the tenant with its settings, and the apps installed in it (the newest snapshot)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse.schema import GUID_LENGTH, PiiClass, UtcDateTime, _column, _tenant_id, metadata


def _flag(name: str, description: str) -> sa.Column[Any]:
    return _column(name, sa.Boolean(), description, PiiClass.NONE)


teams = sa.Table(
    "teams",
    metadata,
    _tenant_id(),
    _column(
        "id", sa.String(GUID_LENGTH), "Id of the team (its Microsoft 365 group's id).", PiiClass.NONE, primary_key=True
    ),
    _column("display_name", sa.Text(), "Name of the team.", PiiClass.NONE),
    _column("description", sa.Text(), "Description of the team.", PiiClass.NONE),
    _column("visibility", sa.String(32), "public, private or hiddenMembership.", PiiClass.NONE),
    _flag("is_archived", "Whether the team is archived (read-only)."),
    _column("classification", sa.Text(), "Classification label of the team.", PiiClass.NONE),
    _column("specialization", sa.String(64), "Use case the team was made for.", PiiClass.NONE),
    _column("created_at", UtcDateTime(), "When the team was created (UTC).", PiiClass.NONE),
    _column("web_url", sa.Text(), "Link to the team in Teams.", PiiClass.NONE),
    _flag("members_create_update_channels", "Members may add and update channels."),
    _flag("members_create_private_channels", "Members may create private channels."),
    _flag("members_delete_channels", "Members may delete channels."),
    _flag("members_add_remove_apps", "Members may add and remove apps."),
    _flag("members_manage_tabs", "Members may add, update and remove tabs."),
    _flag("members_manage_connectors", "Members may add, update and remove connectors."),
    _flag("guests_create_update_channels", "Guests may add and update channels."),
    _flag("guests_delete_channels", "Guests may delete channels."),
    _flag("users_edit_messages", "Users may edit their messages."),
    _flag("users_delete_messages", "Users may delete their messages."),
    _flag("owners_delete_messages", "Owners may delete any message."),
    _flag("team_mentions", "@team mentions are allowed."),
    _flag("channel_mentions", "@channel mentions are allowed."),
    _flag("giphy", "Giphy is allowed."),
    _column("giphy_content_rating", sa.String(16), "Giphy rating: moderate or strict.", PiiClass.NONE),
    _flag("stickers_and_memes", "Stickers and memes are allowed."),
    _flag("custom_memes", "Custom memes may be uploaded."),
    comment="Teams of the tenant (Microsoft Graph /teams/{id}) with their member, guest, messaging and fun settings.",
)

team_installed_apps = sa.Table(
    "team_installed_apps",
    metadata,
    _tenant_id(),
    _column("team_id", sa.String(GUID_LENGTH), "The team (teams.id).", PiiClass.NONE, primary_key=True),
    _column("installation_id", sa.String(256), "Id of the installation.", PiiClass.NONE, primary_key=True),
    _column("teams_app_id", sa.String(256), "Id of the app in the Teams app catalog.", PiiClass.NONE),
    _column("display_name", sa.Text(), "Name of the app.", PiiClass.NONE),
    _column("version", sa.String(64), "Version installed.", PiiClass.NONE),
    _column("distribution_method", sa.String(32), "store, organization or sideloaded.", PiiClass.NONE),
    comment="Apps installed in each team (Microsoft Graph /teams/{id}/installedApps).",
)
