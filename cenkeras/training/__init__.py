"""What runs training, whatever the task: run directories, callbacks (staged learning rates,
checkpoints, backups, NaN stop), tf.distribute strategies and the dtype policy.

May import: models, layers, config, data, utils. Never serving, tasks, experiments or the CLI.
"""
