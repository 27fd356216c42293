"""#29: an outside researcher fine-tunes a registered model in plain PyTorch, exactly as the
README shows, in a fresh venv with torch, safetensors and the project installed --no-deps."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

from tests.helpers.fresh_venv import fresh_venv

REPO = Path(__file__).resolve().parents[2]
CHECKS = textwrap.dedent(
    """
    import sys
    try:
        import prefect  # noqa: F401
        sys.exit("the pipeline's dependencies are importable: not a plain PyTorch venv")
    except ImportError:
        pass
    before = torch.load("before.pt")
    after = dict(model.named_parameters())  # weights; BatchNorm statistics are buffers
    frozen = [k for k in after if not k.startswith("head.")]
    assert frozen and all(torch.equal(after[k], before[k]) for k in frozen), "encoder frozen"
    heads = [p for n, p in model.named_parameters() if n.startswith("head.")]
    assert heads and all(p.grad is not None for p in heads), "the head was trained"
    print("ok", float(loss))
    """
)


def snippet() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(
        r"<!-- researcher-snippet:start -->\n```python\n(.*?)```\n<!-- researcher-snippet:end -->",
        text,
        re.S,
    )
    assert block, "README lost the researcher snippet"
    return block.group(1)


@pytest.mark.slow
def test_the_readme_snippet_fine_tunes_a_registered_model_in_plain_pytorch(tmp_path) -> None:
    from genesis_core.models import UNet3D, UNet3DClassifier, UNet3DConfig
    from genesis_core.models.weights_file import save_weights

    torch.manual_seed(0)
    unet = UNet3D(UNet3DConfig(width=0.125))
    save_weights(unet, tmp_path / "model.safetensors", "restore")  # what a version carries
    torch.save(UNet3DClassifier.from_unet(unet).state_dict(), tmp_path / "before.pt")
    python = fresh_venv(["torch==2.13.0", "safetensors"])
    # install from a copy of the tracked files: a build in place would leave build/ in the repo
    copy = tmp_path / "repo"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in tracked:
        if (REPO / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, copy / rel)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(copy)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG") if k in os.environ}
    out = subprocess.run(
        [str(python), "-I", "-c", snippet() + CHECKS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok ")
