"""The remote-service room's permissions (registered at import time).

Plant side: open service requests, grant access to equipment data (owners
and administrators only by default: the plant decides what leaves), approve
the commands an expert proposes. Expert side: work on requests and keep the
firm's expert profiles."""
from alloyhub.platform.permissions import register

REMOTE_REQUEST = register("remote_service.request",
                          "Open service requests for remote experts, browse the expert directory, talk to experts",
                          roles=("maintenance", "planner"))
REMOTE_GRANT = register("remote_service.grant",
                        "Grant or revoke an expert's access to chosen equipment data, and see what they read")
REMOTE_APPROVE = register("remote_service.approve_command",
                          "Approve or reject a command a remote expert proposes", roles=("maintenance",))
REMOTE_DIAGNOSE = register("remote_service.diagnose",
                           "As an expert: take service requests, look at granted data, report; edit expert profiles",
                           roles=("maintenance",))
