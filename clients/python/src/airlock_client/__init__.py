"""airlock-client: ask Airlock before an agent acts. Fails closed.

    from airlock_client import Airlock, Denied

    airlock = Airlock()  # AIRLOCK_URL, AIRLOCK_TOKEN

    @airlock.guarded("purchase_order.create", resource="vendor")
    def create_order(vendor: str, amount: int): ...

Anything but "allowed" or "approved" raises `Denied` (or `Rejected`, `Expired`,
`Unavailable`, all subclasses of it). The MCP gateway is `airlock_client.mcp_gateway`
(extra `[mcp]`), the LangChain adapter `airlock_client.langchain` (extra `[langchain]`).
"""

from airlock_client.client import Airlock, Decision, action_digest
from airlock_client.errors import Denied, Expired, Rejected, Unavailable

__all__ = ["Airlock", "Decision", "Denied", "Expired", "Rejected", "Unavailable", "action_digest"]
__version__ = "0.1.0"
