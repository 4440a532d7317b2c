"""The optax transformation a training runs: the optimizer of its options, its learning-rate schedule
over the budget, and weight decay."""

from __future__ import annotations

import functools

import optax

from ..api._training_options import (
    ConstantSchedule,
    CosineSchedule,
    SGDOptions,
    StepSchedule,
    TrainingOptions,
    WarmupCosineSchedule,
)


def learning_rate_schedule(options: TrainingOptions, total_steps: int) -> float | optax.Schedule:
    """The learning rate of `options.optimizer` over `total_steps` steps, by `options.schedule`."""
    rate, schedule = options.optimizer.learning_rate, options.schedule
    if isinstance(schedule, ConstantSchedule):
        return rate
    if isinstance(schedule, CosineSchedule):
        return optax.cosine_decay_schedule(rate, decay_steps=total_steps, alpha=schedule.final_fraction)
    if isinstance(schedule, WarmupCosineSchedule):
        return optax.warmup_cosine_decay_schedule(
            0.0, rate, schedule.warmup_steps, decay_steps=max(total_steps, schedule.warmup_steps + 1),
            end_value=rate * schedule.final_fraction,
        )
    assert isinstance(schedule, StepSchedule)
    return optax.exponential_decay(rate, transition_steps=schedule.every, decay_rate=schedule.factor, staircase=True)


@functools.cache
def build_optimizer(options: TrainingOptions, total_steps: int) -> optax.GradientTransformation:
    """The optax transformation of `options` (optimizer, schedule over `total_steps`, weight decay);
    cached, so that jitted training reuses its compilation (a schedule that depends on the budget
    compiles once per budget)."""
    optimizer, rate = options.optimizer, learning_rate_schedule(options, total_steps)
    if isinstance(optimizer, SGDOptions):
        sgd = optax.sgd(rate, momentum=optimizer.momentum or None, nesterov=optimizer.nesterov)
        return optax.chain(optax.add_decayed_weights(options.weight_decay), sgd) if options.weight_decay else sgd
    if options.weight_decay:
        return optax.adamw(rate, b1=optimizer.b1, b2=optimizer.b2, weight_decay=options.weight_decay)
    return optax.adam(rate, b1=optimizer.b1, b2=optimizer.b2)
