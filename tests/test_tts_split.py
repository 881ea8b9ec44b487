from agent.tts import split_sentences


def test_whole_sentences_are_released_and_the_rest_kept():
    assert split_sentences("Sure thing. Your order ships") == (["Sure thing."], "Your order ships")
    assert split_sentences("Is that all? Yes! Ok") == (["Is that all?", "Yes!"], "Ok")
    assert split_sentences("No end yet") == ([], "No end yet")


def test_first_clause_of_a_response_may_be_spoken_early():
    assert split_sentences("I am sorry to hear that, but we can", first=True) == \
        (["I am sorry to hear that,"], "but we can")
    assert split_sentences("Yes, of course", first=True) == ([], "Yes, of course")  # too short to split
    assert split_sentences("I can help, I think. Then more. And", first=True) == \
        (["I can help, I think.", "Then more."], "And")
