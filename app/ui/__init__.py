"""Streamlit pages of the cathode-lake app."""
