"""`pf.training`: a training loop that compiles ONE program for the whole fit.

    trainer = pf.training.Trainer(
        model=model, optimizer=pf.optim.Adam(model.parameters(), lr=1e-3),
        loss_fn=pf.nn.CrossEntropyLoss(),
        config=pf.training.TrainerConfig(max_epochs=10, metrics=("loss", "accuracy")),
    )
    history = trainer.fit(train_batches, val_loader=test_batches)   # {"loss": [...], ...}
    trainer.evaluate(test_batches)                                  # {"loss": .., "accuracy": ..}

One step is forward (model in train mode, under `enable_grad`) + loss + `pf.backward(loss)` +
`optimizer.step()` + `pf.eval(loss, metrics...)`: one compiled program (the optimizer's
updates are pending state evaluated with the loss), compiled once and run for every batch.

Batches are `(inputs, targets)` pairs of numpy arrays or pf tensors (inputs may be a tuple of
several); a loader is any iterable of them that can be iterated once per epoch (a list, a
DataLoader-like object) or a callable returning a fresh iterator. The first batch fixes the
batch size (or `TrainerConfig.batch_size`); a shorter batch (the usual last one) is padded on
the host to that size with copies of its rows, and the padded rows get loss weight 0 (see
`Trainer` for how the loss is masked), so the program never changes. A batch larger than the
batch size is an error.

The package, by concept: `config` (TrainerConfig, callbacks), `loss` (the masked loss of a padded
batch, metrics), `batches`, `progress`, `checkpoints`, and `trainer` (the loop).
"""

from pyflame.training.checkpoints import latest_checkpoint, rotate_checkpoints
from pyflame.training.config import Callback, LambdaCallback, TrainerConfig
from pyflame.training.loss import correct, loss_rule, masked_loss
from pyflame.training.trainer import Trainer

__all__ = [
    "Callback",
    "LambdaCallback",
    "Trainer",
    "TrainerConfig",
    "correct",
    "latest_checkpoint",
    "loss_rule",
    "masked_loss",
    "rotate_checkpoints",
]
