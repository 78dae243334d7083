"""Occlusion-mining throughput against plain batched inference of the same model, measured in one run.

Mining (`odfm.mining.mine_impacts`) decodes each image once from disk, builds its S occluded copies on the
device and scores them with the clean image in forward passes of bs//(S+1)·(S+1) images. It also saves chunks and
assembles the table. The baseline is a plain `model(x)` loop over an in-memory tensor batch of the same size, for
as many images as there are candidates (N·S), made of the same decoded images. The ratio (candidates/s ÷ images/s) is the fraction of plain inference
speed that mining keeps. The clean copy alone caps it at S/(S+1) (0.98 for S=49). Target: >= 0.9.

    python benchmarks/mining_speed.py                       # CPU default: resnet18, random init, 64x64, 49 candidates
    python benchmarks/mining_speed.py --device cuda --arch resnet50 --size 256 --n-images 2000 --amp --channels-last --workers 8
"""
import argparse, statistics, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch, torchvision
from PIL import Image
from odfm.occlusion import candidate_boxes, resolve_window
from odfm.mining import mine_impacts
from odfm.data import imagenet_mean as MEAN, imagenet_std as STD

def load_image(path, size):
    "Decode, resize, ImageNet-normalise (a stand-in for odfm.data.load_image, so the benchmark stands alone)"
    im = Image.open(path).convert('RGB').resize(size[::-1], Image.BILINEAR)
    return (torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255 - MEAN) / STD

def write_images(folder, n, n_classes, seed=0):
    "n JPEGs of smooth random content (256x256, resized at load time like real data) and their records"
    rng, rows = np.random.default_rng(seed), []
    for i in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        path = Path(folder)/f'{i:06d}.jpg'
        Image.fromarray(small).resize((256, 256), Image.BICUBIC).save(path, quality=90)
        rows.append(dict(path=str(path), vid=i % n_classes, camid=1, label=i % n_classes))
    return pd.DataFrame(rows)

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def plain_batch(df, size, bs, dev):
    "A batch of `bs` decoded images (the benchmark's own, repeated), contiguous NCHW as the miner's batches"
    imgs = torch.stack([load_image(p, size) for p in df.path[:bs]])
    return imgs.repeat(-(-bs // len(imgs)), 1, 1, 1)[:bs].to(dev)

def time_plain(model, x, total, bs, amp):
    "Seconds for a plain model(x) loop over `total` images in batches of `bs` from an in-memory tensor"
    dev = x.device
    sync(dev); t = time.perf_counter()
    with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
        for i in range(0, total, bs): model(x[:min(bs, total - i)])
    sync(dev)
    return time.perf_counter() - t

def time_mining(model, df, cache, size, args, tag):
    "Seconds for a full mining run (decode, occlude, score, save chunks, final table), never from cache"
    sync(torch.device(args.device)); t = time.perf_counter()
    tbl = mine_impacts(model, df, cache, size=size, d=args.d, sw=args.stride, bs=args.bs, chunk=args.chunk,
                       load_fn=load_image, num_workers=args.workers, amp=args.amp, tag=tag, progress=False)
    sync(torch.device(args.device))
    return time.perf_counter() - t, len(tbl)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--arch', default='resnet18'); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--n-images', type=int, default=32); ap.add_argument('--classes', type=int, default=100)
    ap.add_argument('--d', type=int, default=None); ap.add_argument('--stride', type=int, default=None)
    ap.add_argument('--bs', type=int, default=256); ap.add_argument('--chunk', type=int, default=2048)
    ap.add_argument('--workers', type=int, default=0); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--device', default='cpu'); ap.add_argument('--amp', action='store_true')
    ap.add_argument('--channels-last', action='store_true')
    args = ap.parse_args()
    dev, size = torch.device(args.device), (args.size, args.size)
    torch.backends.cudnn.benchmark = True
    model = getattr(torchvision.models, args.arch)(num_classes=args.classes).eval().to(dev)
    if args.channels_last: model = model.to(memory_format=torch.channels_last)
    d, sw, sh = resolve_window(size, args.d, args.stride)
    s = len(candidate_boxes(*size, d, sw, sh))
    total = args.n_images * s
    fb = max(1, args.bs // (s + 1)) * (s + 1)  # the miner's forward batch: whole images with their S+1 copies
    print(f"{args.arch} random init, {args.size}x{args.size}, device {dev}"
          f"{' (' + torch.cuda.get_device_name(dev) + ')' if dev.type == 'cuda' else ''}, threads {torch.get_num_threads()}, "
          f"amp {args.amp}, channels_last {args.channels_last}")
    print(f"{args.n_images} images x S={s} candidates (d={d}, stride {sw}) = {total} scored images; forward batches of {fb} for both")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp)/'img').mkdir()
        df = write_images(Path(tmp)/'img', args.n_images, args.classes)
        x = plain_batch(df, size, fb, dev)
        time_plain(model, x, min(total, 2 * fb), fb, args.amp)  # warm-up
        time_mining(model, df.iloc[:2], Path(tmp)/'cache', size, args, 'warmup')
        plain, mining = [], []
        for r in range(args.repeats):  # interleaved, so a load change on a shared machine hits both
            plain.append(time_plain(model, x, total, fb, args.amp))
            t, rows = time_mining(model, df, Path(tmp)/'cache', size, args, f'rep{r}')
            assert rows == total
            mining.append(t)
    ips, cps = total / min(plain), total / min(mining)
    print(f"plain inference : {ips:9.1f} images/s   (best of {args.repeats}; runs {', '.join(f'{total/t:.1f}' for t in plain)})")
    print(f"mining          : {cps:9.1f} candidates/s (best of {args.repeats}; runs {', '.join(f'{total/t:.1f}' for t in mining)})")
    print(f"ratio mining/plain (best/best): {cps/ips:.3f}  (target >= 0.9; upper bound from the clean copy S/(S+1) = {s/(s+1):.3f})")
    print(f"ratio, median of the {args.repeats} interleaved pairs: {statistics.median(p / m for p, m in zip(plain, mining)):.3f}")

if __name__ == '__main__': main()
