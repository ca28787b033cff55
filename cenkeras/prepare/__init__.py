"""From the public dataset downloads to the folder layout the recipes read (`cenkeras prepare`).

One module per dataset; each writes through `PreparedFolder` (atomic: the
folder appears complete or not at all) and names the file and field of
anything missing or malformed.
"""

from cenkeras.prepare.mfnet import prepare_mfnet
from cenkeras.prepare.nyudv2 import prepare_nyudv2
from cenkeras.prepare.output import PreparedFolder
from cenkeras.prepare.sunrgbd import prepare_sunrgbd
from cenkeras.prepare.taskonomy import prepare_taskonomy

__all__ = ["PreparedFolder", "prepare_mfnet", "prepare_nyudv2", "prepare_sunrgbd", "prepare_taskonomy"]
