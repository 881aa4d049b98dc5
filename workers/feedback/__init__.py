"""Feedback intelligence: sentiment tagging, moderation scoring and the feedback stream.

``sentiment`` tags text (VADER with a skincare lexicon, aspects, concerns, ingredients),
``moderation`` scores it and decides, ``service`` applies both to the shop's rows.
"""
