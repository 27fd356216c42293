"""Synthetic CT phantoms written in real dataset layouts (LUNA16, LiTS).

Phantoms look like CT to the pipeline: int16 HU arrays (Z, Y, X), air at
−1000, lungs near −850 with branching vessels, bone near +700, nodules and
liver lesions at known positions; geometry (X, Y, Z) mm.  Everything is
deterministic in the given seed or generator.

- :func:`chest_phantom` / :func:`abdomen_phantom`: arrays in, arrays out.
- :func:`write_luna16` / :func:`write_lits`: whole datasets on disk.
"""

from genesis_core.synth.abdomen import abdomen_phantom
from genesis_core.synth.chest import chest_phantom
from genesis_core.synth.lits import LitsSynth, write_lits
from genesis_core.synth.luna16 import Luna16Synth, write_luna16

__all__ = [
    "LitsSynth",
    "Luna16Synth",
    "abdomen_phantom",
    "chest_phantom",
    "write_lits",
    "write_luna16",
]
