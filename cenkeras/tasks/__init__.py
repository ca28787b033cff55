"""Trainers (keras.Model subclasses with their own train_step) and the jobs that run them."""


def job_for(recipe):
    """The job module (`train`, `evaluate_run`, the builders) of a recipe's task."""
    from cenkeras.config import TranslationRecipe

    if isinstance(recipe, TranslationRecipe):
        from cenkeras.tasks import translation_run

        return translation_run
    from cenkeras.tasks import segmentation_run

    return segmentation_run
