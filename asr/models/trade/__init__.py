"""TRADE (transducer-augmented decoder) streaming speech-LLM recognizer: model, targets, search."""
