"""Teams (``GET /teams``, then ``GET /teams/{id}`` and ``GET /teams/{id}/installedApps?$expand=teamsAppDefinition``
for each): a team's settings, and the apps installed in it."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, RequiredText


class TeamMemberSettings(GraphModel):
    graph_type = "microsoft.graph.teamMemberSettings"

    allowCreateUpdateChannels: bool | None = graph_field("Members may add and update channels.", PiiClass.NONE)
    allowCreatePrivateChannels: bool | None = graph_field("Members may create private channels.", PiiClass.NONE)
    allowDeleteChannels: bool | None = graph_field("Members may delete channels.", PiiClass.NONE)
    allowAddRemoveApps: bool | None = graph_field("Members may add and remove apps.", PiiClass.NONE)
    allowCreateUpdateRemoveTabs: bool | None = graph_field("Members may manage tabs.", PiiClass.NONE)
    allowCreateUpdateRemoveConnectors: bool | None = graph_field("Members may manage connectors.", PiiClass.NONE)


class TeamGuestSettings(GraphModel):
    graph_type = "microsoft.graph.teamGuestSettings"

    allowCreateUpdateChannels: bool | None = graph_field("Guests may add and update channels.", PiiClass.NONE)
    allowDeleteChannels: bool | None = graph_field("Guests may delete channels.", PiiClass.NONE)


class TeamMessagingSettings(GraphModel):
    graph_type = "microsoft.graph.teamMessagingSettings"

    allowUserEditMessages: bool | None = graph_field("Users may edit their messages.", PiiClass.NONE)
    allowUserDeleteMessages: bool | None = graph_field("Users may delete their messages.", PiiClass.NONE)
    allowOwnerDeleteMessages: bool | None = graph_field("Owners may delete any message.", PiiClass.NONE)
    allowTeamMentions: bool | None = graph_field("@team mentions are allowed.", PiiClass.NONE)
    allowChannelMentions: bool | None = graph_field("@channel mentions are allowed.", PiiClass.NONE)


class TeamFunSettings(GraphModel):
    graph_type = "microsoft.graph.teamFunSettings"

    allowGiphy: bool | None = graph_field("Giphy is allowed.", PiiClass.NONE)
    giphyContentRating: str | None = graph_field("Giphy rating: moderate or strict.", PiiClass.NONE)
    allowStickersAndMemes: bool | None = graph_field("Stickers and memes are allowed.", PiiClass.NONE)
    allowCustomMemes: bool | None = graph_field("Custom memes may be uploaded.", PiiClass.NONE)


class Team(GraphModel):
    graph_type = "microsoft.graph.team"

    id: RequiredText = graph_field("Id of the team (the id of its Microsoft 365 group).", PiiClass.NONE, required=True)
    displayName: str | None = graph_field("Name of the team.", PiiClass.NONE)
    description: str | None = graph_field("Description of the team.", PiiClass.NONE)
    visibility: str | None = graph_field("public, private or hiddenMembership.", PiiClass.NONE)
    isArchived: bool | None = graph_field("Whether the team is archived (read-only).", PiiClass.NONE)
    classification: str | None = graph_field("Classification label of the team.", PiiClass.NONE)
    specialization: str | None = graph_field("Use case the team was made for (none, educationClass...).", PiiClass.NONE)
    createdDateTime: GraphTimestamp = graph_field("When the team was created.", PiiClass.NONE)
    webUrl: str | None = graph_field("Link to the team in Teams.", PiiClass.NONE)
    memberSettings: TeamMemberSettings | None = graph_field("What members may do.", PiiClass.NONE)
    guestSettings: TeamGuestSettings | None = graph_field("What guests may do.", PiiClass.NONE)
    messagingSettings: TeamMessagingSettings | None = graph_field("Messaging rules.", PiiClass.NONE)
    funSettings: TeamFunSettings | None = graph_field("Giphy, stickers and memes.", PiiClass.NONE)


class TeamsAppDefinition(GraphModel):
    graph_type = "microsoft.graph.teamsAppDefinition"

    teamsAppId: str | None = graph_field("Id of the app in the Teams app catalog.", PiiClass.NONE)
    displayName: str | None = graph_field("Name of the app.", PiiClass.NONE)
    version: str | None = graph_field("Version of the app installed.", PiiClass.NONE)
    distributionMethod: str | None = graph_field("store, organization or sideloaded.", PiiClass.NONE)


class TeamsAppInstallation(GraphModel):
    graph_type = "microsoft.graph.teamsAppInstallation"

    teamId: RequiredText = graph_field("The team the app is installed in (teams.id).", PiiClass.NONE, required=True)
    id: RequiredText = graph_field("Id of the installation.", PiiClass.NONE, required=True)
    teamsAppDefinition: TeamsAppDefinition | None = graph_field("The app installed.", PiiClass.NONE)


TEAMS = EntitySpec(name="teams", path="/teams/{id}", model=Team, permission="TeamSettings.Read.All")
TEAM_INSTALLED_APPS = EntitySpec(
    name="team_installed_apps",
    path="/teams/{id}/installedApps?$expand=teamsAppDefinition",
    model=TeamsAppInstallation,
    permission="TeamsAppInstallation.ReadForTeam.All",
)
