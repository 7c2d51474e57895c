"""The cathode-lake front ends: the `cathode` command and the Streamlit app. Imports every package."""
