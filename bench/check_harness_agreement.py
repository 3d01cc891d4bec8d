"""Do the harness backend and ``mlsteer eval`` pick the same XCOPA options? (issue 12 item 1)

On the embedded Gemma 3 270M, the same seeded sample of XCOPA test items per language is
scored twice, unsteered:

1. by mlsteer's own evaluation (``mlsteer.evaluation.runner.evaluate``, method ``basic``);
2. through lm-evaluation-harness with ``MlsteerLM`` on the local task ``xcopa_local_{lang}``
   (the harness's prompt; ``samples=`` picks the same rows).

It prints and writes (``bench/results/harness_agreement.json``) the per-language pick agreement
and both accuracies. The prompts are the same except where mlsteer deliberately departs from the
harness (see ``mlsteer/evaluation/tasks/xcopa.py``): mlsteer takes cause/effect from the majority
of the parallel language files where a file's own value disagrees (sw: 37 of 500 test rows), and
strips only trailing punctuation (the harness drops the premise's last character whatever it is).
Rows where the two prompts differ are counted separately.

    HF_HUB_OFFLINE=1 python bench/check_harness_agreement.py --data-dir ../shared/data      # sw,zh,it x 100
    python bench/check_harness_agreement.py --limit 10 --langs sw --out ''                   # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).parent / "results" / "harness_agreement.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--limit", type=int, default=100, help="Test items per language (a seeded sample)."
    )
    parser.add_argument("--langs", default="sw,zh,it", help="XCOPA languages, comma-separated.")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("MLSTEER_DATA")
        or str(Path(__file__).parents[2] / "shared" / "data"),
    )
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="JSON file to write ('' to only print)."
    )
    args = parser.parse_args()
    langs = [code.strip() for code in args.langs.split(",") if code.strip()]

    from mlsteer.models import load_model

    model = load_model(args.model)
    started = time.perf_counter()
    report = {"model": model.name, "limit": args.limit, "seed": args.seed, "languages": {}}
    for lang in langs:
        report["languages"][lang] = compare(model, lang, args.limit, args.seed, Path(args.data_dir))
        row = report["languages"][lang]
        print(
            f"{lang}: agreement {row['agreement']:.3f} ({row['agree']}/{row['items']}; "
            f"{row['agree_same_prompt']}/{row['same_prompt']} where the prompts are equal), "
            f"acc mlsteer {row['acc_mlsteer']:.3f} harness {row['acc_harness']:.3f}",
            flush=True,
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.out}")


def compare(model, lang: str, limit: int, seed: int, data_dir: Path) -> dict:
    """Picks of mlsteer's evaluation and of the harness backend on the same items of ``lang``."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from mlsteer.evaluation.methods import Basic
    from mlsteer.evaluation.runner import evaluate
    from mlsteer.evaluation.tasks import get_task
    from mlsteer.integrations.lm_eval import MlsteerLM, task_folder

    task = get_task("xcopa")
    examples = task.load(lang, limit=limit, seed=seed, data_dir=data_dir)
    with tempfile.TemporaryDirectory() as run_dir:
        store = evaluate(
            model,
            task,
            [lang],
            [Basic()],
            run_dir,
            limit=limit,
            data_dir=data_dir,
            seed=seed,
            progress=False,
        )
        ours = {
            row.item_id: (int(row.prediction), row.correct)
            for row in store.rows(model=model.name, task=task.name, lang=lang, method="basic")
        }
        store.close()
    rows = [
        json.loads(line)
        for line in (data_dir / "xcopa" / lang / f"test.{lang}.jsonl")
        .read_text("utf-8")
        .splitlines()
        if line.strip()
    ]
    position = {f"test-{row['idx']}": number for number, row in enumerate(rows)}
    name = f"xcopa_local_{lang}"
    manager = TaskManager(include_path=str(task_folder(data_dir)), include_defaults=False)
    result = lm_eval.simple_evaluate(
        model=MlsteerLM(model),
        tasks=[name],
        task_manager=manager,
        bootstrap_iters=0,
        samples={name: sorted(position[e.id] for e in examples)},
        log_samples=True,
    )
    theirs = {}
    for sample in result["samples"][name]:
        scores = [resp[0] for resp in sample["filtered_resps"]]
        theirs[f"test-{sample['doc']['idx']}"] = (
            max(range(len(scores)), key=scores.__getitem__),
            sample["acc"] == 1.0,
        )
    same_prompt = {e.id for e in examples if _same_prompt(task, e, rows[position[e.id]])}
    agree = [e.id for e in examples if ours[e.id][0] == theirs[e.id][0]]
    return {
        "items": len(examples),
        "agree": len(agree),
        "agreement": len(agree) / len(examples),
        "same_prompt": len(same_prompt),
        "agree_same_prompt": len(same_prompt.intersection(agree)),
        "acc_mlsteer": sum(ours[e.id][1] for e in examples) / len(examples),
        "acc_harness": sum(theirs[e.id][1] for e in examples) / len(examples),
        "disagreeing_items": sorted({e.id for e in examples} - set(agree)),
    }


def _same_prompt(task, example, row: dict) -> bool:
    """Whether mlsteer's query for ``example`` is the harness's for its file row."""
    from lm_eval.tasks.xcopa import utils

    query = task.render(example)
    context = getattr(utils, f"doc_to_text_{example.lang}")(row)
    choices = tuple(" " + choice for choice in utils.doc_to_choice(row))
    return query.context == context and query.continuations == choices


if __name__ == "__main__":
    main()
