"""Capacity planning: add users in steps, judge each step, report the knee."""
