"""Order between graph ops that share no data, where the order decides the memory."""

import keras


@keras.saving.register_keras_serializable(package="cenkeras")
class WaitFor(keras.layers.Layer):
    """Passes its first input on unchanged once its second input has been computed.

    RefineNet's chained residual pooling adds each of its four pooled
    branches to a running sum. TensorFlow's graph optimizer (Grappler's
    arithmetic optimizer) rewrites such a chain of adds into one AddN at
    the end, so the four branch outputs stay alive until the last is
    computed: three full feature maps more at the decoder's finest stage,
    the peak of a RefineNet forward pass (70 MB of 0.68 GiB in a
    RefineNet-101 RGB-D float32 inference at 480x640). Making the next
    branch wait for the running sum keeps each add where it is written (an
    add that other ops wait for is not merged), so a branch is freed as
    soon as it is added. Under TensorFlow it is an identity with a control
    dependency; other backends schedule the graph themselves and get the
    input back as it is. In training it passes the input on as it is: the
    backward pass keeps every branch anyway, and the training graph stays
    as Grappler likes it.

    Examples:
        >>> x, done = keras.ops.ones((1, 4, 4, 2)), keras.ops.zeros((1, 4, 4, 2))
        >>> WaitFor()([x, done]).shape
        TensorShape([1, 4, 4, 2])
    """

    def call(self, inputs, training=None):
        value, prerequisite = inputs
        if training or keras.backend.backend() != "tensorflow":
            return value
        import tensorflow as tf

        with tf.control_dependencies([prerequisite]):
            return tf.identity(value)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
