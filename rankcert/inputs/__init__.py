"""Step prepare: the model and data sources, the train and eval samples, the padding the examples get."""
