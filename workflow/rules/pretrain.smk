rule pretrain:
    input:
        code=["gpt1/config.py", "gpt1/device.py", "gpt1/model.py", "gpt1/pretrain.py"],
        train="results/tokens/train.bin",
        val="results/tokens/val.bin",
        meta="results/tokens/meta.json",
    output:
        model="results/pretrain/model.pt",
        metrics="results/pretrain/metrics.json",
        curves="results/pretrain/curves.csv",
        snapshots=directory("results/pretrain/snapshots"),
    params:
        profile=config["profile"],
        m=config["model"],
        p=config["pretrain"],
    threads: workflow.cores
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/pretrain.log",
    shell:
        "torchrun --standalone --nproc-per-node {params.p[processes]} -m gpt1.cli pretrain --profile {params.profile}"
        " --tokens-dir results/tokens --out-dir results/pretrain"
        " --n-layer {params.m[n_layer]} --n-head {params.m[n_head]} --n-embd {params.m[n_embd]}"
        " --n-inner {params.m[n_inner]} --n-ctx {params.m[n_ctx]} --dropout {params.m[dropout]}"
        " --batch-size {params.p[batch_size]} --micro-batch-size {params.p[micro_batch_size]}"
        " --lr {params.p[lr]} --warmup-steps {params.p[warmup_steps]} --epochs {params.p[epochs]}"
        " --max-steps {params.p[max_steps]} --weight-decay {params.p[weight_decay]} --grad-clip {params.p[grad_clip]}"
        " --adam-beta1 {params.p[adam_beta1]} --adam-beta2 {params.p[adam_beta2]} --adam-eps {params.p[adam_eps]}"
        " --eval-interval {params.p[eval_interval]} --eval-batches {params.p[eval_batches]}"
        " --log-interval {params.p[log_interval]} --snapshot-interval {params.p[snapshot_interval]}"
        " --seed {params.p[seed]} --device {params.p[device]}"
        " --compile {params.p[compile]} --log-file {log}"
