"""cenkeras' convolutions: Keras' own, with PyTorch's symmetric padding, casting their kernel late.

They keep Keras' class names on purpose. A `.weights.h5` file keys each
layer's variables by the snake-case name of its class and its rank among
the layers of that class (`layers/conv2d_12/vars`), so a run's checkpoints
written while the builders made `keras.layers.Conv2D` load into these
layers as they are.
"""

import keras


def _kernel_waits(layer, training):
    """Whether `layer`'s call should read its kernel after its input: at inference under
    TensorFlow, when the kernel is cast (a float32 kernel is read in place, at no cost)."""
    return not training and keras.backend.backend() == "tensorflow" and layer.compute_dtype != layer.variable_dtype


def _call_after(layer_call, wait_for, inputs):
    """`layer_call(inputs)` with every op it makes (the kernel's cast among them) waiting for `wait_for`."""
    import tensorflow as tf

    with tf.control_dependencies([wait_for]):
        return layer_call(inputs)


def _cast_after(variable, dtype, wait_for):
    """`variable` read and cast to `dtype` once `wait_for` has been computed."""
    import tensorflow as tf

    with tf.control_dependencies([wait_for]):
        value = tf.convert_to_tensor(variable)
        return value if value.dtype == dtype else tf.cast(value, dtype)


def _convolve_recasting_in_backward(convolve, inputs, kernel, dtype):
    """`convolve(inputs, kernel cast to dtype)`, whose backward pass casts the kernel again.

    TensorFlow's gradient of a convolution reads the kernel tensor the
    forward pass used, so every bf16 cast made in the forward pass stays
    alive until the backward pass reaches its layer (0.04 GiB at the peak
    of RefineNet-101's bf16 train step, early in its backward pass).
    Casting again costs a pass over the kernel instead; the gradients are
    the same ops.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def convolution(x, full_kernel):
        def backward(upstream):
            kernel = _cast_after(full_kernel, dtype, upstream)
            with tf.GradientTape() as tape:
                tape.watch([x, kernel])
                # Only the gradient ops are used: TensorFlow prunes this second forward convolution.
                outputs = convolve(x, kernel)
            dx, dkernel = tape.gradient(outputs, [x, kernel], output_gradients=upstream)
            return dx, tf.cast(dkernel, full_kernel.dtype)

        return convolve(x, _cast_after(full_kernel, dtype, x)), backward

    return convolution(inputs, _cast_after(kernel, kernel.dtype, inputs))


@keras.saving.register_keras_serializable(package="cenkeras")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` with PyTorch's symmetric zero padding, casting its kernel late.

    Under a mixed policy Keras casts a float32 kernel to the compute dtype
    where the layer reads it, and TensorFlow runs such a cast as soon as it
    can: at the start of the call. In a bf16 forward pass every kernel's
    bf16 copy is then alive from the start until its convolution has run
    (117 MiB of the pix2pix generator's 0.34 GiB peak), and in training
    until the backward pass has used it. Under TensorFlow this layer casts
    its float32 kernel itself (the variable is not autocast): once its
    input has been computed, and in training again in the backward pass,
    so that a bf16 copy lives as long as the convolution that uses it.

    The wait is on the tensor before the padding, which is why the padding
    is part of this layer: oneDNN's graph rewrite fuses a Pad into the
    convolution that consumes it, so a kernel read waiting for the Pad's
    output would wait for its own convolution (TensorFlow reports a cycle).

    Args:
        symmetric_padding: zeros added on every side of both spatial axes
            before a "valid" convolution (PyTorch's `padding`; TensorFlow's
            "same" pads asymmetrically at stride 2).
        **kwargs: those of `keras.layers.Conv2D`.

    Examples:
        >>> conv = Conv2D(8, 4, strides=2, symmetric_padding=1, dtype="mixed_bfloat16")
        >>> conv(keras.ops.ones((1, 32, 32, 3))).shape
        TensorShape([1, 16, 16, 8])
    """

    def __init__(self, filters, kernel_size, symmetric_padding=0, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.symmetric_padding = int(symmetric_padding)
        if self.symmetric_padding < 0:
            raise ValueError(f"symmetric_padding={symmetric_padding} must be >= 0 (zeros added on each side).")
        if self.symmetric_padding and self.padding != "valid":
            raise ValueError(f"symmetric_padding={symmetric_padding} needs padding='valid', not {self.padding!r}.")
        if self.data_format != "channels_last":
            raise ValueError(f"cenkeras' Conv2D works on channels_last tensors, not {self.data_format}.")

    def _pad(self, x):
        if not self.symmetric_padding:
            return x
        p = self.symmetric_padding
        return keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])

    def add_weight(self, *args, **kwargs):
        if kwargs.get("name") == "kernel":
            kwargs["autocast"] = False  # cast in `call`, where and when the convolution needs it
        return super().add_weight(*args, **kwargs)

    def call(self, inputs, training=None):
        outputs = self._convolve_cast(inputs, training)
        if self.use_bias:
            outputs = keras.ops.add(outputs, keras.ops.reshape(self.bias, (1, 1, 1, self.filters)))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _convolve_cast(self, inputs, training):
        """The convolution of `inputs`, with the kernel cast to the compute dtype where it differs."""
        dtype = self.compute_dtype

        def convolve(x, kernel):
            return self.convolution_op(self._pad(x), kernel)

        if self.kernel.dtype == dtype:
            return convolve(inputs, self.kernel)
        if keras.backend.backend() != "tensorflow":
            return convolve(inputs, keras.ops.cast(self.kernel, dtype))
        if training:
            return _convolve_recasting_in_backward(convolve, inputs, self.kernel, dtype)
        return convolve(inputs, _cast_after(self.kernel, dtype, inputs))

    def compute_output_shape(self, input_shape):
        padded = list(input_shape)
        for axis in (1, 2):
            if padded[axis] is not None:
                padded[axis] += 2 * self.symmetric_padding
        return super().compute_output_shape(tuple(padded))

    def get_config(self):
        return {**super().get_config(), "symmetric_padding": self.symmetric_padding}


@keras.saving.register_keras_serializable(package="cenkeras")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` that casts its kernel once its input is ready, at inference.

    The transposed half of `cenkeras.layers.Conv2D` (see there why): pix2pix's
    decoder upsamples with "same" transposed convolutions, which need no
    padding of their own.

    Examples:
        >>> conv = Conv2DTranspose(8, 4, strides=2, padding="same", dtype="mixed_bfloat16")
        >>> conv(keras.ops.ones((1, 16, 16, 3))).shape
        TensorShape([1, 32, 32, 8])
    """

    def call(self, inputs, training=None):
        if not _kernel_waits(self, training):
            return super().call(inputs)
        return _call_after(super().call, inputs, inputs)
