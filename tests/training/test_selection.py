import torch

from gpt1.training import checkpoint
from gpt1.training.selection import BestEpoch


def weights_of_epoch(model: torch.nn.Module, epoch: int) -> None:
    with torch.no_grad():
        model.weight.fill_(epoch)


def test_the_earliest_best_epoch_is_kept_across_a_resume(tmp_path):
    """Held-out accuracies 0.6, 0.8, 0.8, 0.7: epoch 2 wins (a tie does not replace it, as the released code's
    strict `>`), also when the run is resumed from the checkpoint written after epoch 2."""
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    selection = BestEpoch("dev", "accuracy")
    for epoch, accuracy in [(1, 0.6), (2, 0.8)]:
        weights_of_epoch(model, epoch)
        selection.after_epoch(epoch, {"accuracy": accuracy}, model)
    checkpoint.save(tmp_path / "ckpt.pt", "key", model, optimizer, 2, [], selection=selection.state())

    resumed_model = torch.nn.Linear(2, 1)
    done, _, saved = checkpoint.resume(
        tmp_path / "ckpt.pt", "key", resumed_model, torch.optim.AdamW(resumed_model.parameters()), torch.device("cpu")
    )
    resumed = BestEpoch("dev", "accuracy", saved["selection"])
    for epoch, accuracy in [(3, 0.8), (4, 0.7)]:
        weights_of_epoch(resumed_model, epoch)
        resumed.after_epoch(epoch, {"accuracy": accuracy}, resumed_model)

    assert done == 2
    assert resumed.summary() == {
        "split": "dev",
        "metric": "accuracy",
        "epochs": [{"epoch": e, "accuracy": a} for e, a in [(1, 0.6), (2, 0.8), (3, 0.8), (4, 0.7)]],
        "best_epoch": 2,
    }
    resumed.load_best(resumed_model)
    assert torch.equal(resumed_model.weight, torch.full((1, 2), 2.0))
