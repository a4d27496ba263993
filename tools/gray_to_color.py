"""Turn a grayscale-input checkpoint into a colour-input one that computes the same function (provenance).

A `grayscale: true` network sees x_c = (g - m_c) / s_c on every channel c (g = luminance, m, s =
ImageNet mean/std), so its first conv only ever used sum_c W_c / s_c. With colour input
x_c = (rgb_c - m_c) / s_c, first-conv weights W'_c = a_c s_c A (a = the luminance weights,
A = sum_c W_c / s_c) give A g minus a constant per output channel; that constant moves into the
following BatchNorm's running mean. So fine-tuning in colour starts from v1's accuracy instead
of from a network that has never seen colour (identical except at the zero-padded border).

    python tools/gray_to_color.py src/pipnet106/assets/starter.pt --out starter_color.pt
"""
import argparse

import torch

from pipnet106.models.checkpoint import read_checkpoint
from pipnet106.data.dataset import IMAGENET_MEAN, IMAGENET_STD
from pipnet106.fileio import atomic_torch_save

LUMA_RGB = (0.299, 0.587, 0.114)  # cv2.COLOR_BGR2GRAY


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    ck = read_checkpoint(a.src)
    if not ck["config"].get("grayscale"):
        raise SystemExit(f"{a.src}: not a grayscale-input checkpoint")
    sd = {k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()}
    w = sd["backbone.features.0.0.weight"]                       # (O, 3, k, k), input channels RGB
    m = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)
    s = torch.tensor(IMAGENET_STD, dtype=torch.float64)
    luma = torch.tensor(LUMA_RGB, dtype=torch.float64)
    w64 = w.double()
    big_a = (w64 / s[None, :, None, None]).sum(1)                 # (O, k, k)
    new_w = luma[None, :, None, None] * s[None, :, None, None] * big_a[:, None]
    const_old = (w64 * (m / s)[None, :, None, None]).sum((1, 2, 3))
    const_new = (new_w * (m / s)[None, :, None, None]).sum((1, 2, 3))
    sd["backbone.features.0.0.weight"] = new_w.float()
    # y_colour = y_gray + (const_old - const_new): shift the BN mean by the same amount
    sd["backbone.features.0.1.running_mean"] = sd["backbone.features.0.1.running_mean"] + (const_old - const_new).float()
    ck["model"] = sd
    ck["weights_dtype"] = "float32"
    ck["config"] = {**ck["config"], "grayscale": False}
    atomic_torch_save(a.out, ck)
    print(f"wrote {a.out}: colour input, same function as {a.src}")


if __name__ == "__main__":
    main()
