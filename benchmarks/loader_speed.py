"""Training-loader throughput of `odfm.data.reid_dls` against a plain PyTorch `DataLoader`.

Both read the same JPEGs with the same transforms (decode, resize, ImageNet normalisation, occlusion box on half of
the records, horizontal flip p=0.5), the same batch size and the same number of worker processes; only the loader
differs: fastai's `DataLoader` (through `DataLoaders.from_dsets` and `FlipItem`) or `torch.utils.data.DataLoader`
(flip written in `__getitem__`). Epochs of the two alternate, after one warm-up epoch each, and the medians are compared:
images per second of wall time (the target: reid_dls at least 0.9x the plain loader), and CPU time per image of the
workers and the main process together, which other programs running on the machine disturb much less.

    python benchmarks/loader_speed.py                 # 2000 JPEGs of 128x128 -> 64x64, 2 workers, batch 32
    python benchmarks/loader_speed.py --size 128 --workers 4 --epochs 7
"""
import argparse, os, resource, statistics, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from odfm.data import reid_dls, load_image, fill_box, size_hw
from odfm.datasets import add_labels

def make_images(folder, n, px=128, n_ids=50, seed=0):
    "Write `n` JPEGs (smooth colour fields with noise, like photos in size and cost) and return their records"
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:px, 0:px] / px
    rows = []
    for i in range(n):
        a, b, c = rng.random((3, 3, 1, 1))
        img = 255 * (a * xx + b * yy + c * (1 - xx) * yy) / 3 + rng.normal(0, 12, (3, px, px))
        path = Path(folder)/f'{i:05d}.jpg'
        Image.fromarray(img.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)).save(path, quality=90)
        rows.append((str(path), i % n_ids, -1))
    return pd.DataFrame(rows, columns=['path', 'vid', 'camid'])

def with_boxes(df, size, seed=0):
    "Half of the records get a random square occlusion box a quarter of the image wide"
    h, w = size_hw(size)
    d, rng = min(h, w) // 4, np.random.default_rng(seed)
    boxes = [(int(x), int(y), int(x) + d, int(y) + d) if rng.random() < 0.5 else None
             for x, y in zip(rng.integers(0, w - d, len(df)), rng.integers(0, h - d, len(df)))]
    return df.assign(box=pd.Series(boxes, dtype=object))

class PlainReid(Dataset):
    "The same items the plain PyTorch way: load, fill the box, flip with p=0.5"
    def __init__(self, df, size):
        self.paths, self.labels, self.boxes, self.size = df.path.tolist(), df.label.tolist(), df.box.tolist(), size
    def __len__(self): return len(self.paths)
    def __getitem__(self, i):
        x = fill_box(load_image(self.paths[i], self.size), self.boxes[i])
        if torch.rand(()) < 0.5: x = x.flip(-1)
        return x, self.labels[i]

def cpu_seconds():
    "CPU time of this process and of its ended children (the loaders' workers end with each epoch)"
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

def epoch_speed(loader):
    "Images per second and CPU microseconds per image of one full pass over `loader`, worker start-up included"
    start, cpu, n = time.perf_counter(), cpu_seconds(), 0
    for xb, yb in loader: n += len(xb)
    secs = time.perf_counter() - start
    time.sleep(0.1)  # let the workers end, so that their CPU time is counted
    return n / secs, (cpu_seconds() - cpu) / n * 1e6

def main(n=2000, px=128, size=64, bs=32, workers=2, epochs=7):
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        df = with_boxes(add_labels(make_images(tmp, n, px)), size)
        print(f"{n} JPEGs of {px}x{px} written in {time.perf_counter() - t:.1f}s; loading at {size_hw(size)}, "
              f"batch {bs}, {workers} workers, {os.cpu_count()} CPUs")
        fastai_dl = reid_dls(df, size=size, bs=bs, num_workers=workers, device='cpu').train
        plain_dl = DataLoader(PlainReid(df, size), batch_size=bs, shuffle=True, drop_last=True, num_workers=workers)
        xb, yb = fastai_dl.one_batch()
        xp, yp = next(iter(plain_dl))
        assert xb.shape == xp.shape and xb.dtype == xp.dtype and yb.dtype == yp.dtype, "the loaders must give alike batches"
        epoch_speed(fastai_dl); epoch_speed(plain_dl)  # warm-up: page cache, lazy set-up
        runs = {'reid_dls': [], 'torch DataLoader': []}
        for _ in range(epochs):
            runs['torch DataLoader'].append(epoch_speed(plain_dl))
            runs['reid_dls'].append(epoch_speed(fastai_dl))
    rate = {k: statistics.median(r for r, c in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for r, c in v) for k, v in runs.items()}
    for k, v in runs.items():
        print(f"{k:>17}: median {rate[k]:6.0f} img/s, {cpu[k]:4.0f} CPU us/img  (epochs: {', '.join(f'{r:.0f}' for r, c in v)} img/s)")
    ratio = rate['reid_dls'] / rate['torch DataLoader']
    print(f"ratio reid_dls / torch DataLoader: {ratio:.2f}x images/s (target >= 0.9x), "
          f"{cpu['torch DataLoader'] / cpu['reid_dls']:.2f}x CPU efficiency")
    return ratio

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=2000, help='number of JPEGs')
    p.add_argument('--px', type=int, default=128, help='side of the JPEGs written')
    p.add_argument('--size', type=int, default=64, help='side of the loaded images')
    p.add_argument('--bs', type=int, default=32, help='batch size')
    p.add_argument('--workers', type=int, default=min(2, os.cpu_count()), help='worker processes of both loaders')
    p.add_argument('--epochs', type=int, default=7, help='measured epochs of each loader')
    a = p.parse_args()
    main(a.n, a.px, a.size, a.bs, a.workers, a.epochs)
