"""The translation trainer: conditional GAN training of a CEN pix2pix generator."""

import keras
import tensorflow as tf

from cenkeras.data.modality_dropout import pop_present_pattern
from cenkeras.data.skipping import pop_skipped_count
from cenkeras.metrics.image_quality import l1_error, psnr
from cenkeras.tasks.logs import step_logs
from cenkeras.tasks.subset_training import LoneModels, SubsetModels, dense_gradients

# PyTorch's BCELoss clamps log terms at -100; so does this, for the same losses.
_LOG_FLOOR = -100.0
# Below the smallest normal float32 TF's CPU kernels flush to zero; such a p takes the floor.
_SMALLEST_LOG_ARGUMENT = 1.1754944e-38


def _floored_log(p):
    """max(log p, -100) whose gradient stays finite at p = 0.

    `maximum(log(p), -100)` has the right value, but at p = 0 its gradient is
    0 x (1/p) = 0 x inf = NaN: a saturated discriminator (its sigmoid is
    exactly 0 or 1, soon under bfloat16) turned every weight into NaN. Where
    p is too small, the log is taken of 1 instead and its gradient is not
    used, as PyTorch's BCE backward (which divides by max(p (1 - p), 1e-12))
    never produces NaN either. A usable p has log p >= -87.4, above the
    floor, so no maximum is needed there.
    """
    usable = p >= _SMALLEST_LOG_ARGUMENT
    return tf.where(usable, tf.math.log(tf.where(usable, p, 1.0)), _LOG_FLOOR)


def binary_cross_entropy(target, probabilities):
    """Mean BCE of probabilities against a constant target (1 real, 0 fake), PyTorch-style."""
    p = tf.cast(probabilities, tf.float32)
    if target:
        return -tf.reduce_mean(_floored_log(p))
    return -tf.reduce_mean(_floored_log(1.0 - p))


class TranslationTrainer(keras.Model):
    """Trains a CEN generator against a PatchGAN discriminator as the official code does.

    Each step, on a batch `({domain: image}, target)` in [-1, 1]:

    1. Discriminator: for every input domain m, D(x_m, target) is pushed to 1
       and D(x_m, G(x)_m) to 0 (the generated branch of that domain);
       `loss_D = sum_m (BCE_real_m + BCE_fake_m) / 2`.
    2. Generator (a fresh forward pass): `loss_G = sum_m BCE(D(x_m, G(x)_m), 1)
       + l1_weight * sum over every output (each branch and the ensemble) of
       mean |G(x) - target| + the sparsity losses of the exchanging norms`.

    Both use Adam (the optimizers given). The discriminator runs in training
    mode throughout, as in the official code.

    Args:
        generator: a `CENUNetGenerator`.
        discriminator: a `PatchGANDiscriminator` (sigmoid outputs).
        generator_optimizer, discriminator_optimizer: Keras optimizers.
        l1_weight: weight of the L1 term (100).
        count_skipped: log the `skipped` metric: training samples left out of
            their batch (`cenkeras.data.skipping`).
        modality_dropout: train on the input domains each batch keeps
            (`cenkeras.data.modality_dropout`): a batch carrying a drop
            pattern runs both steps with the generator's subset model of its
            present domains; the discriminator judges those domains only
            and the L1 term covers their branches and the ensemble.
        lone_weight: the generator step also runs each input domain alone
            (its subset model) and adds `lone_weight` times that branch's
            loss: the discriminator's verdict on it and its weighted L1,
            logged as `lone_loss` (0: no such passes); a `{domain: weight}`
            mapping weighs each domain's pass on its own (0: none).
        lone_discriminator: the discriminator step also takes each lone
            pass's image as a fake (its real/fake loss on that domain, times
            the domain's lone weight): the lone branches are then judged by
            a discriminator that has seen their images, as a single-domain
            generator's is.

    Examples:
        >>> import numpy as np
        >>> from cenkeras.models import build_patchgan_discriminator, build_unet_generator
        >>> generator = build_unet_generator(["shade", "texture"], filters=4, levels=5)
        >>> trainer = TranslationTrainer(generator, build_patchgan_discriminator(filters=4),
        ...     keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
        >>> trainer.compile(optimizer=trainer.generator_optimizer)
        >>> images = {"shade": np.zeros((1, 32, 32, 3), "float32"), "texture": np.zeros((1, 32, 32, 3), "float32")}
        >>> batches = tf.data.Dataset.from_tensors((images, np.zeros((1, 32, 32, 3), "float32")))
        >>> history = trainer.fit(batches, epochs=1, verbose=0, shuffle=False)
        >>> sorted(history.history)
        ['d_loss', 'g_adversarial', 'g_l1', 'g_loss', 'sparsity']
    """

    def __init__(
        self,
        generator,
        discriminator,
        generator_optimizer,
        discriminator_optimizer,
        l1_weight=100.0,
        count_skipped=False,
        modality_dropout=False,
        lone_weight=0.0,
        lone_discriminator=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        # One generator per drop pattern, sharing the generator's layers.
        self.subset_generators = SubsetModels(generator) if modality_dropout else None
        # Each input domain's generator alone (sharing the generator's layers), for the lone passes.
        self.lone_generators = LoneModels(generator, lone_weight)
        if lone_discriminator and not self.lone_generators.models:
            raise ValueError("lone_discriminator needs lone passes (a lone_weight above 0).")
        self.lone_discriminator = bool(lone_discriminator)
        self.discriminator = discriminator
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.l1_weight = float(l1_weight)
        self.domains = list(generator.modalities)
        self.output_names_ = self.domains + ["ensemble"]
        names = ["d_loss", "g_loss", "g_adversarial", "g_l1", "sparsity"]
        names += ["lone_loss"] if self.lone_generators.models else []
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.l1_trackers = [keras.metrics.Mean(name=f"{n}_l1") for n in self.output_names_]
        self.psnr_trackers = [keras.metrics.Mean(name=f"{n}_psnr") for n in self.output_names_]
        # Training samples left out of their batch (data.on_error=skip), per epoch.
        self.skipped = [keras.metrics.Sum(name="skipped")] if count_skipped else []
        self.built = True  # both wrapped models are built functional models

    def build_optimizers(self):
        """Create the optimizer slots now (needed before restoring a backup)."""
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # See SegmentationTrainer: nothing to build, and Keras' sample reduction fails on dicts.
        return

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    @property
    def metrics(self):
        return [*self.trackers.values(), *self.l1_trackers, *self.psnr_trackers, *self.skipped]

    def _judge(self, inputs, images, domains=None):
        """D on (input domain m, image of branch m) for every input domain (or those of `domains`)."""
        return [
            self.discriminator(
                {"condition": tf.convert_to_tensor(inputs[name]), "image": tf.convert_to_tensor(images[name])},
                training=True,
            )
            for name in domains or self.domains
        ]

    def discriminator_loss(self, inputs, target, generated, domains=None):
        """`sum_m (BCE(D(x_m, target), 1) + BCE(D(x_m, G(x)_m), 0)) / 2` over `domains` (default all);
        the generated images are held fixed."""
        domains = domains or self.domains
        real_scores = self._judge(inputs, {n: target for n in domains}, domains)
        fake_scores = self._judge(inputs, {n: tf.stop_gradient(generated[n]) for n in domains}, domains)
        return tf.add_n(
            [0.5 * (binary_cross_entropy(1, r) + binary_cross_entropy(0, f)) for r, f in zip(real_scores, fake_scores)]
        )

    def generator_losses(self, inputs, target, generated, domains=None):
        """(adversarial, weighted L1, sparsity) of the generator step (on `domains`' branches, default all)."""
        domains = domains or self.domains
        judged = self._judge(inputs, generated, domains)
        adversarial = tf.add_n([binary_cross_entropy(1, d) for d in judged])
        l1 = self.l1_weight * tf.add_n(
            [tf.reduce_mean(tf.abs(tf.cast(generated[n], tf.float32) - target)) for n in [*domains, "ensemble"]]
        )
        regularization = self.generator.losses
        sparsity = tf.add_n([tf.cast(v, tf.float32) for v in regularization]) if regularization else 0.0
        return adversarial, l1, tf.cast(sparsity, tf.float32)

    def train_step(self, data):
        inputs, target = data
        inputs = pop_skipped_count(inputs, self.skipped[0] if self.skipped else None)
        inputs, pattern = pop_present_pattern(inputs)
        target = tf.cast(target, tf.float32)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if pattern is not None and self.subset_generators is not None:
            losses = self._subset_step(inputs, target, pattern, replicas)
        else:
            losses = self._full_step(inputs, target, replicas)
        for name, value in zip(("d_loss", "g_loss", "g_adversarial", "g_l1", "sparsity", "lone_loss"), losses):
            self.trackers[name].update_state(value)
        return step_logs([*self.trackers.values(), *self.skipped])

    def _subset_step(self, inputs, target, pattern, replicas):
        """Both steps on the domains of `pattern`: each subset's gradients come out of a
        `tf.switch_case` (zeros for the variables it does not use) and are applied outside it."""
        d_variables = self.discriminator.trainable_variables
        g_variables = self.generator.trainable_variables

        def discriminator_branch(generator, domains):
            def run():
                generated = generator({d: inputs[d] for d in domains}, training=True)
                with tf.GradientTape() as tape:
                    d_loss = self.discriminator_loss(inputs, target, generated, domains)
                    scaled = d_loss / replicas  # inside the tape: the gradient must see the division
                return [d_loss, *dense_gradients(tape.gradient(scaled, d_variables), d_variables)]

            return run

        def generator_branch(generator, domains):
            def run():
                with tf.GradientTape() as tape:
                    generated = generator({d: inputs[d] for d in domains}, training=True)
                    adversarial, l1, sparsity = self.generator_losses(inputs, target, generated, domains)
                    g_loss = adversarial + l1 + sparsity
                    scaled = g_loss / replicas
                gradients = dense_gradients(tape.gradient(scaled, g_variables), g_variables)
                return [g_loss, adversarial, l1, sparsity, *gradients]

            return run

        subsets = self.subset_generators.entries
        d_loss, *d_gradients = tf.switch_case(pattern - 1, [discriminator_branch(g, d) for d, g in subsets])
        self.discriminator_optimizer.apply(d_gradients, d_variables)
        g_loss, adversarial, l1, sparsity, *g_gradients = tf.switch_case(
            pattern - 1, [generator_branch(g, d) for d, g in subsets]
        )
        self.generator_optimizer.apply(g_gradients, g_variables)
        return d_loss, g_loss, adversarial, l1, sparsity

    def _full_step(self, inputs, target, replicas):
        """Both steps with every input domain, as the official code trains."""

        generated = self.generator(inputs, training=True)
        lone_images = self._lone_images(inputs) if self.lone_discriminator else []
        with tf.GradientTape() as tape:
            d_loss = self.discriminator_loss(inputs, target, generated)
            for domain, image, weight in lone_images:
                d_loss += weight * self.discriminator_loss(inputs, target, {domain: image}, [domain])
            scaled = d_loss / replicas
        variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply(tape.gradient(scaled, variables), variables)

        with tf.GradientTape() as tape:
            generated = self.generator(inputs, training=True)
            adversarial, l1, sparsity = self.generator_losses(inputs, target, generated)
            g_loss = adversarial + l1 + sparsity
            lone = self._lone_loss(inputs, target) if self.lone_generators.models else None
            if lone is not None:
                g_loss += lone
            scaled = g_loss / replicas
        variables = self.generator.trainable_variables
        self.generator_optimizer.apply(dense_gradients(tape.gradient(scaled, variables), variables), variables)
        return (d_loss, g_loss, adversarial, l1, sparsity) + ((lone,) if lone is not None else ())

    def _lone_images(self, inputs):
        """`(domain, image, weight)` of each lone pass: its domain's generator run alone."""
        images = []
        for generator, weight in zip(self.lone_generators.models, self.lone_generators.weights):
            domain = generator.modalities[0]
            images.append((domain, generator({domain: inputs[domain]}, training=True)[domain], weight))
        return images

    def _lone_loss(self, inputs, target):
        """Each input domain's lone weight x its generator loss run alone: its branch judged
        by the discriminator and its weighted L1 (a lone ensemble is that branch, detached)."""
        terms = []
        for domain, image, weight in self._lone_images(inputs):
            judged = self._judge(inputs, {domain: image}, [domain])[0]
            l1 = tf.reduce_mean(tf.abs(tf.cast(image, tf.float32) - target))
            terms.append(weight * (binary_cross_entropy(1, judged) + self.l1_weight * l1))
        return tf.add_n(terms)

    def test_step(self, data):
        inputs, target = data
        generated = self.generator(inputs, training=False)
        for name, l1_tracker, psnr_tracker in zip(self.output_names_, self.l1_trackers, self.psnr_trackers):
            l1_tracker.update_state(l1_error(generated[name], target))
            psnr_tracker.update_state(psnr(generated[name], target))
        return step_logs([*self.l1_trackers, *self.psnr_trackers])
