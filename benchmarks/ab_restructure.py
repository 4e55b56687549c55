"""A/B of simulate and execute between two source trees (run once per tree, alternating, same machine).

``PYTHONPATH=TREE python benchmarks/ab_restructure.py LABEL`` from the repository root prints, for TREE's code:
simulate of MobileNet-v2 on hvx_690 and of ResNet-18 (per-tensor) on tpu_v1, and execute of MobileNet-v2 with
synthetic int8 weights on one engine thread: median / best of 20 runs in ms. Used for the op-registry and
compute-unit restructuring (docs/benchmarks.md).
"""
import time, statistics, sys, os
import numpy as np
from accelsim import load_hw, load_workload, simulate, execute
from accelsim.graph.synthetic import synthesize_weights
def med(f, n):
    f(); ts=[]
    for _ in range(n):
        t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return statistics.median(ts)*1e3, min(ts)*1e3
mv2=load_workload("mobilenet_v2"); hvx=load_hw("hw_configs/hvx_690.yaml")
r18=load_workload("resnet_18", quant={"per_channel": False}); tpu=load_hw("hw_configs/tpu_v1.yaml")
g=synthesize_weights(load_workload("mobilenet_v2"))
x={"input": np.random.default_rng(0).integers(-128,128,(1,224,224,3),dtype=np.int8)}
a=med(lambda: simulate(mv2,hvx), 20); b=med(lambda: simulate(r18,tpu), 20); c=med(lambda: execute(g,x,threads=1), 20)
print(f"{sys.argv[1]}: sim_mv2_hvx {a[0]:.1f}/{a[1]:.1f} ms  sim_r18_tpu {b[0]:.1f}/{b[1]:.1f} ms  exec_mv2_1t {c[0]:.1f}/{c[1]:.1f} ms")
