"""Directory roles (``GET /directoryRoles``: the activated roles and their names) and who holds them
(``GET /roleManagement/directory/roleAssignments``: one assignment per principal, role and scope)."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import Guid, RequiredText


class DirectoryRole(GraphModel):
    graph_type = "microsoft.graph.directoryRole"

    id: Guid = graph_field("Object id of the activated role in this tenant.", PiiClass.NONE, required=True)
    displayName: str | None = graph_field("Name of the role, e.g. Global Administrator.", PiiClass.NONE)
    description: str | None = graph_field("What the role may do.", PiiClass.NONE)
    roleTemplateId: Guid = graph_field(
        "Id of the role's template, the same in every tenant (roleDefinitionId of its assignments).",
        PiiClass.NONE,
        required=True,
    )


class RoleAssignment(GraphModel):
    graph_type = "microsoft.graph.unifiedRoleAssignment"

    id: RequiredText = graph_field("Id of the assignment.", PiiClass.NONE, required=True)
    principalId: Guid = graph_field(
        "Object id of the user, group or service principal holding the role.", PiiClass.QUASI, required=True
    )
    roleDefinitionId: Guid = graph_field(
        "Id of the role definition (the directory role's template id for built-in roles).", PiiClass.NONE, required=True
    )
    directoryScopeId: str | None = graph_field("Scope of the assignment; / is the whole tenant.", PiiClass.NONE)


DIRECTORY_ROLES = EntitySpec(
    name="directory_roles",
    path="/directoryRoles",
    model=DirectoryRole,
    permission="RoleManagement.Read.Directory",
    paged=False,
)

ROLE_ASSIGNMENTS = EntitySpec(
    name="role_assignments",
    path="/roleManagement/directory/roleAssignments",
    model=RoleAssignment,
    permission="RoleManagement.Read.Directory",
    paged=False,  # $top is not among the documented parameters: pages as Graph cuts them
)
