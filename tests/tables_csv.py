"""Two CSVs like the ones people bring to the Tables page, written into a folder: a penguins-like table (missing
values, categorical columns, the class in the first column) and a weather-like one (a date column, text classes
in the last column)."""

from pathlib import Path

import numpy as np

SPECIES = ("Adelie", "Chinstrap", "Gentoo")
ISLANDS = ("Biscoe", "Dream", "Torgersen")
WEATHER = ("drizzle", "fog", "rain", "snow", "sun")


def penguins_csv(folder: Path, rows: int = 150, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"]
    for i in range(rows):
        s = i % 3
        island = ISLANDS[s] if rng.random() < 0.7 else ISLANDS[rng.integers(3)]
        bill = "" if i % 17 == 0 else f"{rng.normal((39, 46, 47)[s], 3.0):.1f}"
        depth = f"{rng.normal((18.3, 18.4, 15.0)[s], 1.0):.1f}"
        flipper = "" if i % 23 == 0 else f"{rng.normal((190, 196, 217)[s], 6):.0f}"
        mass = f"{rng.normal((3700, 3730, 5080)[s], 400):.0f}"
        sex = "" if i % 11 == 0 else ("MALE" if rng.random() < 0.5 else "FEMALE")
        lines.append(f"{SPECIES[s]},{island},{bill},{depth},{flipper},{mass},{sex},{2007 + rng.integers(3)}")
    path = folder / "penguins.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def weather_csv(folder: Path, rows: int = 120, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["date,precipitation,temp_max,temp_min,wind,weather"]
    for i in range(rows):
        w = WEATHER[i % 5]
        rain = rng.gamma(2, 3) if w in ("rain", "drizzle", "snow") else rng.gamma(0.3, 0.5)
        tmax = rng.normal(4 if w == "snow" else 16, 4)
        lines.append(f"2012-{1 + i // 28:02d}-{1 + i % 28:02d},{rain:.1f},{tmax:.1f},{tmax - rng.gamma(3, 2):.1f},"
                     f"{rng.gamma(3, 1):.1f},{w}")
    path = folder / "seattle-weather.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def shop_csv(folder: Path, rows: int = 120, seed: int = 0) -> Path:
    """A small shop table (size, colour, price → sold: yes/no), sold mostly when large or red."""
    rng = np.random.default_rng(seed)
    lines = ["size,colour,price,sold"]
    for i in range(rows):
        size = rng.normal(10, 3)
        colour = ["red", "blue", "green"][i % 3]
        lines.append(f"{size:.2f},{colour},{rng.normal(50, 10):.1f},{'yes' if size + (colour == 'red') * 3 > 11 else 'no'}")
    path = folder / "shop.csv"
    path.write_text("\n".join(lines))
    return path
