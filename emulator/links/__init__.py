"""Link geometry and behaviour: the Moon, Earth stations and relay orbits
(skyfield, offline), visibility windows, light time, link budgets -> BER,
channel errors (random + Gilbert-Elliott bursts) and the on-board store."""

from .budget import Coding, channel_ber, ebn0_db, free_space_loss_db, required_ebn0_db
from .channel import GilbertElliott, LinkChannel
from .geometry import HorizonMask, LunarSite
from .orbits import KeplerElements, propagate_relays, state_from_elements
from .report import links_summary, links_table, plot_links
from .schedule import DIRECT, LinkSchedule, LinkState, Window

__all__ = [
    "DIRECT", "Coding", "GilbertElliott", "HorizonMask", "KeplerElements", "LinkChannel",
    "LinkSchedule", "LinkState", "LunarSite", "Window", "channel_ber", "ebn0_db",
    "free_space_loss_db", "links_summary", "links_table", "plot_links", "propagate_relays",
    "required_ebn0_db", "state_from_elements",
]
