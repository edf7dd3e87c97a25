"""A few sentences to try the text page with, bundled (no download)."""

TEXT_SAMPLES = {
    "Restaurant (negative)": "The food was awful and the service was slow",
    "Film (positive)": "An absolutely wonderful film: the actors were brilliant and the story moved me.",
    "Mixed": "The hotel room was clean, but the staff were rude and the breakfast was cold.",
    "Negation": "This is not bad at all, I actually enjoyed it.",
    "Emoji": "Best concert ever 😍🔥 can't wait to go again!",
}
