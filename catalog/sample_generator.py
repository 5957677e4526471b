"""Deterministic generator of the project's own Cosmic Works sample data set.

Writes `catalog/sample/product.json` (products) and `catalog/sample/customer.json` (customers,
each followed by its sales orders, as in the original data set). Everything derives from fixed
seeds, so the output is byte-for-byte reproducible:

    python -m catalog.sample_generator           # (re)write the files
    python -m catalog.sample_generator --check   # exit 1 if the shipped files are stale
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

from catalog.models import Customer, Product, SalesOrder
from catalog.sample import CUSTOMERS_FILE, PRODUCTS_FILE, sample_dir

SEED = "cosmic-works-sample-v1"
CUSTOMER_COUNT = 400
FEATURED_SKU = "FR-R92B-58"  # the acceptance question's product: ordered regularly
FEATURED_EVERY = 100  # orders whose index % FEATURED_EVERY == 7 include it

Document = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------

BIKE_FIT = " {colour} finish, {size} cm frame."
FRAME_FIT = " {colour} finish, {size} cm frame size."
WEAR_FIT = " Size {size}."


@dataclass(frozen=True)
class Family:
    """A product family: one product per size (or a single product when `sizes` is empty)."""

    category: str
    name: str  # template: {size}, {colour}
    sku: str  # template: {size}
    price: float
    description: str  # template: {size}, {colour}
    sizes: tuple[str, ...] = ()
    colour: str = ""
    tags: tuple[str, ...] = ()


def _sizes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ROAD, MTB, TOUR = "Bikes, Road Bikes", "Bikes, Mountain Bikes", "Bikes, Touring Bikes"
ROAD_FR, MTB_FR, TOUR_FR = (
    "Components, Road Frames",
    "Components, Mountain Frames",
    "Components, Touring Frames",
)

BIKES: tuple[Family, ...] = (
    Family(ROAD, "Road-150 {colour}, {size}", "BK-R93R-{size}", 3578.27,
           "Top-of-the-line competition road bike with a hand-built lightweight aluminum frame "
           "and carbon fork, made for racing and long fast rides." + BIKE_FIT,
           _sizes("44 48 52 58 62"), "Red", ("Road", "Racing", "High-End")),
    Family(ROAD, "Road-250 {colour}, {size}", "BK-R89R-{size}", 2443.35,
           "Race-ready road bike with an ultra-light aluminum frame, carbon fork and crisp "
           "20-speed shifting for club races and fast group rides." + BIKE_FIT,
           _sizes("44 48 52 58"), "Red", ("Road", "Racing")),
    Family(ROAD, "Road-250 {colour}, {size}", "BK-R89B-{size}", 2443.35,
           "Race-ready road bike with an ultra-light aluminum frame, carbon fork and crisp "
           "20-speed shifting for club races and fast group rides." + BIKE_FIT,
           _sizes("44 48 52 58"), "Black", ("Road", "Racing")),
    Family(ROAD, "Road-350-W {colour}, {size}", "BK-R79Y-{size}", 1700.99,
           "Women's performance road bike with a shorter-reach aluminum frame and narrower "
           "handlebars for an efficient, comfortable fit." + BIKE_FIT,
           _sizes("40 42 44 48"), "Yellow", ("Road", "Women's")),
    Family(ROAD, "Road-450 {colour}, {size}", "BK-R68R-{size}", 1457.99,
           "Performance road bike with a stiff, responsive aluminum frame and precise shifting "
           "for fitness riders who want speed without a racing budget." + BIKE_FIT,
           _sizes("44 48 52 58 60"), "Red", ("Road", "Fitness")),
    Family(ROAD, "Road-550-W {colour}, {size}", "BK-R64Y-{size}", 1120.49,
           "Women's road bike with a relaxed geometry and women-specific saddle, ideal for "
           "fitness riding and a first sportive." + BIKE_FIT,
           _sizes("38 40 42 44 48"), "Yellow", ("Road", "Women's", "Fitness")),
    Family(ROAD, "Road-650 {colour}, {size}", "BK-R50R-{size}", 782.99,
           "Value-priced road bike with a durable aluminum frame and reliable 16-speed gearing, "
           "a great first bike for commuting and weekend rides." + BIKE_FIT,
           _sizes("44 48 52 58 60 62"), "Red", ("Road", "Commuting")),
    Family(ROAD, "Road-650 {colour}, {size}", "BK-R50B-{size}", 782.99,
           "Value-priced road bike with a durable aluminum frame and reliable 16-speed gearing, "
           "a great first bike for commuting and weekend rides." + BIKE_FIT,
           _sizes("44 48 52 58 60 62"), "Black", ("Road", "Commuting")),
    Family(ROAD, "Road-750 {colour}, {size}", "BK-R19B-{size}", 539.99,
           "Entry-level road bike with a sturdy aluminum frame and easy-to-use shifters, built "
           "for everyday riding and commuting." + BIKE_FIT,
           _sizes("44 48 52 58"), "Black", ("Road", "Commuting", "Entry-Level")),
    Family(MTB, "Mountain-100 {colour}, {size}", "BK-M82S-{size}", 3399.99,
           "Top-of-the-line full-suspension mountain bike for cross-country racing, with a "
           "hand-built aluminum frame and long-travel fork." + BIKE_FIT,
           _sizes("38 42 44 48"), "Silver", ("Mountain", "Racing", "High-End")),
    Family(MTB, "Mountain-100 {colour}, {size}", "BK-M82B-{size}", 3374.99,
           "Top-of-the-line full-suspension mountain bike for cross-country racing, with a "
           "hand-built aluminum frame and long-travel fork." + BIKE_FIT,
           _sizes("38 42 44 48"), "Black", ("Mountain", "Racing", "High-End")),
    Family(MTB, "Mountain-200 {colour}, {size}", "BK-M68S-{size}", 2319.99,
           "Trail mountain bike with a light aluminum frame, front and rear suspension and "
           "hydraulic disc brakes for rough singletrack." + BIKE_FIT,
           _sizes("38 42 46"), "Silver", ("Mountain", "Trail")),
    Family(MTB, "Mountain-200 {colour}, {size}", "BK-M68B-{size}", 2294.99,
           "Trail mountain bike with a light aluminum frame, front and rear suspension and "
           "hydraulic disc brakes for rough singletrack." + BIKE_FIT,
           _sizes("38 42 46"), "Black", ("Mountain", "Trail")),
    Family(MTB, "Mountain-300 {colour}, {size}", "BK-M47B-{size}", 1079.99,
           "Hardtail mountain bike with a responsive suspension fork and wide-range gearing "
           "for trails, fire roads and dirt paths." + BIKE_FIT,
           _sizes("38 40 44 48"), "Black", ("Mountain", "Hardtail")),
    Family(MTB, "Mountain-400-W {colour}, {size}", "BK-M38S-{size}", 769.49,
           "Women's mountain bike with a lower standover height, shorter top tube and "
           "women-specific saddle for confident off-road riding." + BIKE_FIT,
           _sizes("38 40 42 46"), "Silver", ("Mountain", "Women's")),
    Family(MTB, "Mountain-500 {colour}, {size}", "BK-M18S-{size}", 564.99,
           "Entry-level mountain bike with a tough aluminum frame and front suspension, ready "
           "for gravel paths and weekend trail rides." + BIKE_FIT,
           _sizes("40 42 44 48 52"), "Silver", ("Mountain", "Entry-Level")),
    Family(MTB, "Mountain-500 {colour}, {size}", "BK-M18B-{size}", 539.99,
           "Entry-level mountain bike with a tough aluminum frame and front suspension, ready "
           "for gravel paths and weekend trail rides." + BIKE_FIT,
           _sizes("40 42 44 48 52"), "Black", ("Mountain", "Entry-Level")),
    Family(TOUR, "Touring-1000 {colour}, {size}", "BK-T79Y-{size}", 2384.07,
           "Premium touring bike with stable geometry, rack and fender mounts and wide-range "
           "gearing for loaded long-distance travel." + BIKE_FIT,
           _sizes("46 50 54 60"), "Yellow", ("Touring", "High-End")),
    Family(TOUR, "Touring-1000 {colour}, {size}", "BK-T79U-{size}", 2384.07,
           "Premium touring bike with stable geometry, rack and fender mounts and wide-range "
           "gearing for loaded long-distance travel." + BIKE_FIT,
           _sizes("46 50 54 60"), "Blue", ("Touring", "High-End")),
    Family(TOUR, "Touring-2000 {colour}, {size}", "BK-T44U-{size}", 1214.85,
           "Mid-range touring bike with an upright riding position and a plush saddle for "
           "comfortable all-day rides and light touring." + BIKE_FIT,
           _sizes("46 50 54 60"), "Blue", ("Touring", "Comfort")),
    Family(TOUR, "Touring-3000 {colour}, {size}", "BK-T18Y-{size}", 742.35,
           "Affordable touring bike with a durable frame and dependable components, ideal for "
           "commuting and weekend bike trips." + BIKE_FIT,
           _sizes("44 50 54 58 62"), "Yellow", ("Touring", "Commuting")),
    Family(TOUR, "Touring-3000 {colour}, {size}", "BK-T18U-{size}", 742.35,
           "Affordable touring bike with a durable frame and dependable components, ideal for "
           "commuting and weekend bike trips." + BIKE_FIT,
           _sizes("44 50 54 58 62"), "Blue", ("Touring", "Commuting")),
)

HL_ROAD_FRAME = (
    "Our lightest and highest-end road frame, hand-welded from heat-treated aluminum tubing "
    "that is as stiff as it is light, built for racing." + FRAME_FIT
)
LL_ROAD_FRAME = (
    "Entry-level aluminum road frame with a durable finish and classic geometry, a solid base "
    "for a first road build or a replacement frame." + FRAME_FIT
)
ML_ROAD_FRAME = (
    "Mid-level road frame of heat-treated aluminum with a stiff, responsive ride for fitness "
    "and club riders." + FRAME_FIT
)

FRAMES: tuple[Family, ...] = (
    Family(ROAD_FR, "HL Road Frame - {colour}, {size}", "FR-R92B-{size}", 1431.5,
           HL_ROAD_FRAME, _sizes("44 48 58 62"), "Black", ("Road", "Frame", "High-End")),
    Family(ROAD_FR, "HL Road Frame - {colour}, {size}", "FR-R92R-{size}", 1431.5,
           HL_ROAD_FRAME, _sizes("44 56 58 62"), "Red", ("Road", "Frame", "High-End")),
    Family(ROAD_FR, "LL Road Frame - {colour}, {size}", "FR-R38B-{size}", 337.22,
           LL_ROAD_FRAME, _sizes("44 48 52 58 60 62"), "Black", ("Road", "Frame", "Entry-Level")),
    Family(ROAD_FR, "LL Road Frame - {colour}, {size}", "FR-R38R-{size}", 337.22,
           LL_ROAD_FRAME, _sizes("44 48 52 58 60 62"), "Red", ("Road", "Frame", "Entry-Level")),
    Family(ROAD_FR, "ML Road Frame - {colour}, {size}", "FR-R72R-{size}", 594.83,
           ML_ROAD_FRAME, _sizes("44 48 52 58 60"), "Red", ("Road", "Frame", "Mid-Range")),
    Family(ROAD_FR, "ML Road Frame-W - {colour}, {size}", "FR-R72Y-{size}", 594.83,
           "Women's mid-level aluminum road frame with a shorter top tube and taller head tube "
           "for a comfortable, efficient riding position." + FRAME_FIT,
           _sizes("38 40 42 44 48"), "Yellow", ("Road", "Frame", "Women's")),
    Family(MTB_FR, "HL Mountain Frame - {colour}, {size}", "FR-M94S-{size}", 1364.5,
           "Our lightest high-end mountain frame, hand-welded from heat-treated aluminum and "
           "built to take the abuse of competitive trail racing." + FRAME_FIT,
           _sizes("38 42 44 46 48"), "Silver", ("Mountain", "Frame", "High-End")),
    Family(MTB_FR, "HL Mountain Frame - {colour}, {size}", "FR-M94B-{size}", 1349.6,
           "Our lightest high-end mountain frame, hand-welded from heat-treated aluminum and "
           "built to take the abuse of competitive trail racing." + FRAME_FIT,
           _sizes("38 42 44 46 48"), "Black", ("Mountain", "Frame", "High-End")),
    Family(MTB_FR, "ML Mountain Frame - {colour}, {size}", "FR-M63B-{size}", 348.76,
           "Mid-level aluminum mountain frame, strong and reasonably light, suited to hardtail "
           "trail builds." + FRAME_FIT,
           _sizes("38 40 44 48"), "Black", ("Mountain", "Frame", "Mid-Range")),
    Family(MTB_FR, "ML Mountain Frame-W - {colour}, {size}", "FR-M63S-{size}", 364.09,
           "Women's mid-level aluminum mountain frame with a lower standover height for "
           "confident handling on technical trails." + FRAME_FIT,
           _sizes("38 40 42 46"), "Silver", ("Mountain", "Frame", "Women's")),
    Family(MTB_FR, "LL Mountain Frame - {colour}, {size}", "FR-M21S-{size}", 264.05,
           "Entry-level aluminum mountain frame with a tough powder-coat finish, great for a "
           "first trail build or a rebuild." + FRAME_FIT,
           _sizes("40 42 44 48 52"), "Silver", ("Mountain", "Frame", "Entry-Level")),
    Family(MTB_FR, "LL Mountain Frame - {colour}, {size}", "FR-M21B-{size}", 259.79,
           "Entry-level aluminum mountain frame with a tough powder-coat finish, great for a "
           "first trail build or a rebuild." + FRAME_FIT,
           _sizes("40 42 44 48 52"), "Black", ("Mountain", "Frame", "Entry-Level")),
    Family(TOUR_FR, "HL Touring Frame - {colour}, {size}", "FR-T98Y-{size}", 1003.91,
           "High-end aluminum touring frame with relaxed geometry, long chainstays and rack "
           "mounts for stable, loaded long-distance touring." + FRAME_FIT,
           _sizes("46 50 54 60"), "Yellow", ("Touring", "Frame", "High-End")),
    Family(TOUR_FR, "HL Touring Frame - {colour}, {size}", "FR-T98U-{size}", 1003.91,
           "High-end aluminum touring frame with relaxed geometry, long chainstays and rack "
           "mounts for stable, loaded long-distance touring." + FRAME_FIT,
           _sizes("46 50 54 60"), "Blue", ("Touring", "Frame", "High-End")),
    Family(TOUR_FR, "LL Touring Frame - {colour}, {size}", "FR-T67Y-{size}", 333.42,
           "Entry-level touring frame with a comfortable upright geometry and eyelets for "
           "racks and fenders." + FRAME_FIT,
           _sizes("44 50 54 58 62"), "Yellow", ("Touring", "Frame", "Entry-Level")),
    Family(TOUR_FR, "LL Touring Frame - {colour}, {size}", "FR-T67U-{size}", 333.42,
           "Entry-level touring frame with a comfortable upright geometry and eyelets for "
           "racks and fenders." + FRAME_FIT,
           _sizes("44 50 54 58 62"), "Blue", ("Touring", "Frame", "Entry-Level")),
)


def _part(category: str, name: str, sku: str, price: float, description: str,
          *tags: str) -> Family:
    """A single product (no sizes, no colour)."""
    return Family(category, name, sku, price, description, (), "", tags)


HANDLEBARS, WHEELS, SADDLES = (
    "Components, Handlebars", "Components, Wheels", "Components, Saddles",
)
PEDALS, BRAKES, CHAINS, CRANKS = (
    "Components, Pedals", "Components, Brakes", "Components, Chains", "Components, Cranksets",
)
DERAILLEURS, FORKS, HEADSETS, BRACKETS = (
    "Components, Derailleurs", "Components, Forks", "Components, Headsets",
    "Components, Bottom Brackets",
)

PARTS: tuple[Family, ...] = (
    _part(HANDLEBARS, "LL Road Handlebars", "HB-R504", 44.54,
          "Entry-level aluminum drop handlebars with a comfortable shallow bend for road "
          "riding.", "Road", "Entry-Level"),
    _part(HANDLEBARS, "ML Road Handlebars", "HB-R720", 61.92,
          "Mid-range alloy drop handlebars, lighter and stiffer, with an ergonomic flat top "
          "for long rides.", "Road", "Mid-Range"),
    _part(HANDLEBARS, "HL Road Handlebars", "HB-R956", 120.27,
          "High-end lightweight drop handlebars with a compact bend and internal cable "
          "routing for racing.", "Road", "High-End"),
    _part(HANDLEBARS, "LL Mountain Handlebars", "HB-M243", 44.54,
          "Entry-level flat aluminum handlebars for mountain bikes, wide enough for confident "
          "steering.", "Mountain", "Entry-Level"),
    _part(HANDLEBARS, "ML Mountain Handlebars", "HB-M763", 61.92,
          "Mid-range riser handlebars with a slight sweep that keeps your wrists relaxed on "
          "long trail rides.", "Mountain", "Mid-Range"),
    _part(HANDLEBARS, "HL Mountain Handlebars", "HB-M918", 120.27,
          "High-end wide riser handlebars, light and strong, for aggressive trail and "
          "downhill riding.", "Mountain", "High-End"),
    _part(HANDLEBARS, "LL Touring Handlebars", "HB-T721", 46.09,
          "Comfortable swept-back touring handlebars with several hand positions for long "
          "days in the saddle.", "Touring", "Entry-Level"),
    _part(HANDLEBARS, "HL Touring Handlebars", "HB-T928", 91.57,
          "High-end butterfly touring handlebars with room for lights, a bell and a "
          "handlebar bag.", "Touring", "High-End"),
    _part(WHEELS, "LL Road Front Wheel", "FW-R623", 85.57,
          "Durable entry-level front wheel for road bikes with a double-wall aluminum rim.",
          "Road", "Wheel", "Entry-Level"),
    _part(WHEELS, "ML Road Front Wheel", "FW-R762", 248.38,
          "Lighter mid-range front wheel with sealed bearings and a stiff aluminum rim for "
          "training and racing.", "Road", "Wheel", "Mid-Range"),
    _part(WHEELS, "HL Road Front Wheel", "FW-R820", 330.06,
          "High-end aerodynamic front wheel, very light, with bladed spokes for racing.",
          "Road", "Wheel", "High-End"),
    _part(WHEELS, "LL Road Rear Wheel", "RW-R623", 112.57,
          "Durable entry-level rear wheel for road bikes with a freewheel-compatible hub.",
          "Road", "Wheel", "Entry-Level"),
    _part(WHEELS, "ML Road Rear Wheel", "RW-R762", 275.38,
          "Mid-range rear wheel with sealed bearings and a stiff aluminum rim for training "
          "and racing.", "Road", "Wheel", "Mid-Range"),
    _part(WHEELS, "HL Road Rear Wheel", "RW-R820", 357.06,
          "High-end aerodynamic rear wheel with a fast-engaging hub, built for racing.",
          "Road", "Wheel", "High-End"),
    _part(WHEELS, "LL Mountain Front Wheel", "FW-M423", 60.75,
          "Rugged entry-level front wheel for mountain bikes, built to take rocks and "
          "roots.", "Mountain", "Wheel", "Entry-Level"),
    _part(WHEELS, "ML Mountain Front Wheel", "FW-M762", 209.03,
          "Mid-range tubeless-ready front wheel for trail riding with a wide aluminum rim.",
          "Mountain", "Wheel", "Mid-Range"),
    _part(WHEELS, "HL Mountain Front Wheel", "FW-M928", 300.22,
          "High-end lightweight front wheel for cross-country racing, tubeless-ready.",
          "Mountain", "Wheel", "High-End"),
    _part(WHEELS, "LL Mountain Rear Wheel", "RW-M423", 87.75,
          "Rugged entry-level rear wheel for mountain bikes with a steel-axle hub.",
          "Mountain", "Wheel", "Entry-Level"),
    _part(WHEELS, "ML Mountain Rear Wheel", "RW-M762", 236.03,
          "Mid-range tubeless-ready rear wheel for trail riding with a sealed-bearing hub.",
          "Mountain", "Wheel", "Mid-Range"),
    _part(WHEELS, "HL Mountain Rear Wheel", "RW-M928", 327.22,
          "High-end lightweight rear wheel for cross-country racing with a quick-engaging "
          "hub.", "Mountain", "Wheel", "High-End"),
    _part(WHEELS, "Touring Front Wheel", "FW-T905", 218.01,
          "Strong 36-spoke front wheel for loaded touring, with a dynamo-ready hub.",
          "Touring", "Wheel"),
    _part(WHEELS, "Touring Rear Wheel", "RW-T905", 245.01,
          "Strong 36-spoke rear wheel for loaded touring, built to carry panniers and "
          "heavy loads.", "Touring", "Wheel"),
    _part(SADDLES, "LL Road Seat/Saddle", "SE-R581", 27.12,
          "Entry-level padded road saddle with a synthetic cover and steel rails.",
          "Road", "Saddle", "Entry-Level"),
    _part(SADDLES, "ML Road Seat/Saddle", "SE-R908", 39.14,
          "Mid-range road saddle with a pressure-relief channel for comfortable long rides.",
          "Road", "Saddle", "Mid-Range"),
    _part(SADDLES, "HL Road Seat/Saddle", "SE-R995", 52.64,
          "Lightweight racing saddle with hollow alloy rails and a slim, firm shape.",
          "Road", "Saddle", "High-End"),
    _part(SADDLES, "LL Mountain Seat/Saddle", "SE-M236", 27.12,
          "Entry-level mountain saddle with a tough cover and gel padding.",
          "Mountain", "Saddle", "Entry-Level"),
    _part(SADDLES, "ML Mountain Seat/Saddle", "SE-M798", 39.14,
          "Mid-range mountain saddle with reinforced edges that resist scuffs and crashes.",
          "Mountain", "Saddle", "Mid-Range"),
    _part(SADDLES, "HL Mountain Seat/Saddle", "SE-M940", 52.64,
          "Lightweight anatomic mountain saddle with titanium rails for trail racing.",
          "Mountain", "Saddle", "High-End"),
    _part(SADDLES, "LL Touring Seat/Saddle", "SE-T312", 27.12,
          "Wide, well-padded touring saddle with springs that soak up bumps.",
          "Touring", "Saddle", "Entry-Level"),
    _part(SADDLES, "ML Touring Seat/Saddle", "SE-T762", 39.14,
          "Mid-range touring saddle with memory foam for comfort on long tours.",
          "Touring", "Saddle", "Mid-Range"),
    _part(SADDLES, "HL Touring Seat/Saddle", "SE-T924", 52.64,
          "Premium leather touring saddle that shapes itself to the rider over time.",
          "Touring", "Saddle", "High-End"),
    _part(PEDALS, "LL Road Pedal", "PD-R347", 40.49,
          "Entry-level clipless road pedals with adjustable release tension, cleats "
          "included.", "Road", "Pedal", "Entry-Level"),
    _part(PEDALS, "ML Road Pedal", "PD-R563", 62.09,
          "Lighter clipless road pedals with a wide platform for efficient power transfer.",
          "Road", "Pedal", "Mid-Range"),
    _part(PEDALS, "HL Road Pedal", "PD-R853", 80.99,
          "Ultra-light carbon-body clipless road pedals with stainless steel axles.",
          "Road", "Pedal", "High-End"),
    _part(PEDALS, "LL Mountain Pedal", "PD-M282", 40.49,
          "Sturdy flat platform pedals with replaceable pins for grip on the trail.",
          "Mountain", "Pedal", "Entry-Level"),
    _part(PEDALS, "ML Mountain Pedal", "PD-M340", 62.09,
          "Dual-sided clipless mountain pedals that shed mud and clip in easily.",
          "Mountain", "Pedal", "Mid-Range"),
    _part(PEDALS, "HL Mountain Pedal", "PD-M562", 80.99,
          "High-end clipless mountain pedals with a supportive cage and sealed bearings.",
          "Mountain", "Pedal", "High-End"),
    _part(PEDALS, "Touring Pedal", "PD-T852", 80.99,
          "Combination touring pedals, clipless on one side and a flat platform on the "
          "other, for riding in any shoes.", "Touring", "Pedal"),
    _part(BRAKES, "Front Brakes", "FB-9873", 106.5,
          "Dual-pivot front caliper brakes with replaceable pads for strong, controlled "
          "stopping.", "Brakes"),
    _part(BRAKES, "Rear Brakes", "RB-9231", 106.5,
          "Dual-pivot rear caliper brakes with replaceable pads and quick-release cable "
          "adjusters.", "Brakes"),
    _part(CHAINS, "Chain", "CH-0234", 20.24,
          "Durable nickel-plated chain compatible with most road and mountain drivetrains, "
          "with a reusable quick link.", "Drivetrain"),
    _part(CRANKS, "LL Crankset", "CS-4759", 175.49,
          "Entry-level aluminum crankset with steel chainrings, durable and easy to "
          "maintain.", "Drivetrain", "Entry-Level"),
    _part(CRANKS, "ML Crankset", "CS-6583", 256.49,
          "Mid-range forged aluminum crankset with smooth-shifting chainrings.",
          "Drivetrain", "Mid-Range"),
    _part(CRANKS, "HL Crankset", "CS-9183", 404.99,
          "High-end hollow forged crankset, very light and stiff, for racing.",
          "Drivetrain", "High-End"),
    _part(DERAILLEURS, "Front Derailleur", "FD-2342", 91.49,
          "Precise front derailleur with a steel cage for quick, reliable chainring shifts.",
          "Drivetrain"),
    _part(DERAILLEURS, "Rear Derailleur", "RD-2308", 121.46,
          "Rear derailleur with sealed jockey wheels for crisp shifting across a wide "
          "cassette.", "Drivetrain"),
    _part(FORKS, "LL Fork", "FK-1639", 148.22,
          "Entry-level steel fork, strong and forgiving, with fender eyelets.",
          "Fork", "Entry-Level"),
    _part(FORKS, "ML Fork", "FK-5136", 175.49,
          "Mid-range aluminum fork with a tapered steerer for precise steering.",
          "Fork", "Mid-Range"),
    _part(FORKS, "HL Fork", "FK-9939", 229.49,
          "High-end full-carbon fork that damps road vibration and saves weight.",
          "Fork", "High-End"),
    _part(HEADSETS, "LL Headset", "HS-0296", 34.2,
          "Entry-level threadless headset with loose ball bearings.", "Headset",
          "Entry-Level"),
    _part(HEADSETS, "ML Headset", "HS-2451", 102.29,
          "Mid-range headset with sealed cartridge bearings for smooth steering.",
          "Headset", "Mid-Range"),
    _part(HEADSETS, "HL Headset", "HS-3479", 124.73,
          "High-end lightweight headset with stainless sealed bearings, weatherproof for "
          "years of use.", "Headset", "High-End"),
    _part(BRACKETS, "LL Bottom Bracket", "BB-7421", 53.99,
          "Entry-level square-taper bottom bracket with a chromoly spindle.",
          "Drivetrain", "Entry-Level"),
    _part(BRACKETS, "ML Bottom Bracket", "BB-8107", 101.24,
          "Mid-range external-bearing bottom bracket for a stiffer, lighter drivetrain.",
          "Drivetrain", "Mid-Range"),
    _part(BRACKETS, "HL Bottom Bracket", "BB-9108", 121.49,
          "High-end bottom bracket with ceramic hybrid bearings for low friction.",
          "Drivetrain", "High-End"),
)

JERSEYS, SHORTS, GLOVES, CAPS = (
    "Clothing, Jerseys", "Clothing, Shorts", "Clothing, Gloves", "Clothing, Caps",
)
SOCKS, TIGHTS, VESTS, BIBS = (
    "Clothing, Socks", "Clothing, Tights", "Clothing, Vests", "Clothing, Bib-Shorts",
)

CLOTHING: tuple[Family, ...] = (
    Family(JERSEYS, "Long-Sleeve Logo Jersey, {size}", "LJ-0192-{size}", 49.99,
           "Long-sleeve cycling jersey in breathable, moisture-wicking microfiber with the "
           "AWC logo and three rear pockets." + WEAR_FIT,
           _sizes("S M L XL"), "", ("Jersey", "Unisex")),
    Family(JERSEYS, "Short-Sleeve Classic Jersey, {size}", "SJ-0194-{size}", 53.99,
           "Short-sleeve classic cycling jersey, lightweight and quick-drying, with a "
           "full-length zip for hot summer rides." + WEAR_FIT,
           _sizes("S M L XL"), "", ("Jersey", "Summer")),
    Family(SHORTS, "Men's Sports Shorts, {size}", "SH-M897-{size}", 59.99,
           "Men's cycling shorts with an eight-panel stretch fabric and a padded chamois "
           "for comfort on long rides." + WEAR_FIT,
           _sizes("S M L XL"), "", ("Shorts", "Men's")),
    Family(SHORTS, "Women's Mountain Shorts, {size}", "SH-W890-{size}", 69.99,
           "Women's baggy mountain bike shorts with a removable padded liner and tough, "
           "water-resistant outer fabric." + WEAR_FIT,
           _sizes("S M L"), "", ("Shorts", "Women's", "Mountain")),
    Family(GLOVES, "Half-Finger Gloves, {size}", "GL-H102-{size}", 24.49,
           "Fingerless cycling gloves with gel-padded synthetic leather palms that reduce "
           "hand fatigue and road vibration." + WEAR_FIT,
           _sizes("S M L"), "", ("Gloves", "Summer")),
    Family(GLOVES, "Full-Finger Gloves, {size}", "GL-F110-{size}", 37.99,
           "Full-finger gloves with a padded palm and touchscreen fingertips, protecting "
           "your hands on cool days and rough trails." + WEAR_FIT,
           _sizes("S M L"), "", ("Gloves", "Mountain")),
    _part(CAPS, "AWC Logo Cap", "CA-1098", 8.99,
          "Classic cotton cycling cap with the AWC logo; one size fits most and it fits "
          "under a helmet.", "Cap", "Unisex"),
    Family(SOCKS, "Mountain Bike Socks, {size}", "SO-B909-{size}", 9.5,
           "Thick combed-cotton blend socks with a padded heel and toe for trail riding."
           + WEAR_FIT, _sizes("M L"), "", ("Socks", "Mountain")),
    Family(SOCKS, "Racing Socks, {size}", "SO-R809-{size}", 8.99,
           "Thin, breathable polyester racing socks with a stay-up cuff and arch support."
           + WEAR_FIT, _sizes("M L"), "", ("Socks", "Road")),
    Family(TIGHTS, "Women's Tights, {size}", "TG-W091-{size}", 74.99,
           "Women's thermal cycling tights with a padded chamois and reflective details for "
           "winter riding." + WEAR_FIT,
           _sizes("S M L"), "", ("Tights", "Women's", "Winter")),
    Family(VESTS, "Classic Vest, {size}", "VE-C304-{size}", 63.5,
           "Lightweight wind- and water-resistant cycling vest that packs into a jersey "
           "pocket." + WEAR_FIT,
           _sizes("S M L"), "", ("Vest", "Unisex")),
    Family(BIBS, "Men's Bib-Shorts, {size}", "SB-M891-{size}", 79.99,
           "Men's Lycra bib-shorts with a multi-density chamois and breathable mesh straps "
           "that hold everything in place." + WEAR_FIT,
           _sizes("S M L"), "", ("Bib-Shorts", "Men's")),
)

HELMETS, BOTTLES, TIRES, LIGHTS = (
    "Accessories, Helmets", "Accessories, Bottles and Cages", "Accessories, Tires and Tubes",
    "Accessories, Lights",
)
LOCKS, PUMPS, FENDERS, RACKS = (
    "Accessories, Locks", "Accessories, Pumps", "Accessories, Fenders", "Accessories, Bike Racks",
)
STANDS, CLEANERS, HYDRATION, PANNIERS = (
    "Accessories, Bike Stands", "Accessories, Cleaners", "Accessories, Hydration Packs",
    "Accessories, Panniers",
)

SPORT_100 = (
    "Lightweight, well-ventilated bike helmet whose hard shell and impact-absorbing foam "
    "liner protect your head on road and trail rides; the dial fit system adjusts in seconds."
)
SPORT_200 = (
    "Aerodynamic road helmet with an in-mould shell and rotational impact protection that keeps "
    "your head safe in a crash, plus 18 vents to keep you cool."
)

ACCESSORIES: tuple[Family, ...] = (
    Family(HELMETS, "Sport-100 Helmet, {colour}", "HL-U509-R", 34.99, SPORT_100, (), "Red",
           ("Helmet", "Safety")),
    Family(HELMETS, "Sport-100 Helmet, {colour}", "HL-U509", 34.99, SPORT_100, (), "Black",
           ("Helmet", "Safety")),
    Family(HELMETS, "Sport-100 Helmet, {colour}", "HL-U509-B", 34.99, SPORT_100, (), "Blue",
           ("Helmet", "Safety")),
    Family(HELMETS, "Sport-200 Helmet, {colour}", "HL-U612", 49.99, SPORT_200, (), "Black",
           ("Helmet", "Safety", "Road")),
    Family(HELMETS, "Sport-200 Helmet, {colour}", "HL-U612-W", 49.99, SPORT_200, (), "White",
           ("Helmet", "Safety", "Road")),
    _part(BOTTLES, "Water Bottle - 30 oz.", "WB-H098", 4.99,
          "BPA-free 30 oz. squeeze water bottle with a leak-proof valve that fits standard "
          "bottle cages.", "Hydration"),
    _part(BOTTLES, "Mountain Bottle Cage", "BC-M005", 9.99,
          "Tough aluminum bottle cage with a tight grip that keeps your bottle in place on "
          "bumpy trails.", "Hydration", "Mountain"),
    _part(BOTTLES, "Road Bottle Cage", "BC-R205", 8.99,
          "Lightweight aluminum bottle cage for road bikes, easy to reach while riding.",
          "Hydration", "Road"),
    _part(TIRES, "Patch Kit/8 Patches", "PK-7098", 2.29,
          "Puncture repair kit with eight glueless patches, sandpaper and tire levers that "
          "fits in a saddle bag.", "Repair"),
    _part(TIRES, "Mountain Tire Tube", "TT-M928", 4.99,
          "Butyl inner tube for 26-inch mountain bike tires with a Schrader valve.",
          "Tube", "Mountain"),
    _part(TIRES, "Road Tire Tube", "TT-R982", 3.99,
          "Lightweight butyl inner tube for 700c road tires with a Presta valve.",
          "Tube", "Road"),
    _part(TIRES, "Touring Tire Tube", "TT-T092", 4.99,
          "Thick, puncture-resistant inner tube for touring tires.", "Tube", "Touring"),
    _part(TIRES, "LL Mountain Tire", "TI-M267", 24.99,
          "Entry-level knobby mountain tire with good grip on dirt and gravel.",
          "Tire", "Mountain", "Entry-Level"),
    _part(TIRES, "ML Mountain Tire", "TI-M602", 29.99,
          "Mid-range mountain tire with a dual-compound tread for grip and durability.",
          "Tire", "Mountain", "Mid-Range"),
    _part(TIRES, "HL Mountain Tire", "TI-M823", 35.0,
          "High-end tubeless-ready mountain tire with aggressive knobs for traction in mud "
          "and on loose rock.", "Tire", "Mountain", "High-End"),
    _part(TIRES, "LL Road Tire", "TI-R092", 21.49,
          "Entry-level road tire with a durable rubber compound for training miles.",
          "Tire", "Road", "Entry-Level"),
    _part(TIRES, "ML Road Tire", "TI-R628", 24.99,
          "Mid-range road tire with a puncture-protection belt and low rolling resistance.",
          "Tire", "Road", "Mid-Range"),
    _part(TIRES, "HL Road Tire", "TI-R982", 32.6,
          "High-end folding road tire, light and supple, with excellent grip in the wet.",
          "Tire", "Road", "High-End"),
    _part(TIRES, "Touring Tire", "TI-T723", 28.99,
          "Long-lasting touring tire with reflective sidewalls and heavy puncture "
          "protection.", "Tire", "Touring"),
    _part(LIGHTS, "Headlights - Dual-Beam", "LT-H902", 34.99,
          "Rechargeable dual-beam LED headlight that lights the road ahead and makes you "
          "visible to traffic at night.", "Lights", "Safety"),
    _part(LIGHTS, "Headlights - Weatherproof", "LT-H903", 44.99,
          "Bright weatherproof LED headlight that keeps shining through rain and snow.",
          "Lights", "Safety"),
    _part(LIGHTS, "Taillights - Battery-Powered", "LT-T990", 13.99,
          "Battery-powered red LED taillight with steady and flashing modes so drivers see "
          "you from behind.", "Lights", "Safety"),
    _part(LOCKS, "Cable Lock", "LO-C100", 25.0,
          "Braided steel cable lock with a combination lock head for short stops around "
          "town.", "Lock", "Security"),
    _part(LOCKS, "Heavy Duty U-Lock", "LO-U200", 39.99,
          "Hardened steel U-lock that resists cutting and prying, with a frame mount "
          "bracket.", "Lock", "Security"),
    _part(PUMPS, "Minipump", "PU-0452", 19.99,
          "Compact hand pump with a frame mount and a head that fits Presta and Schrader "
          "valves.", "Pump", "Repair"),
    _part(PUMPS, "Mountain Pump", "PU-M044", 24.99,
          "High-volume hand pump for wide mountain bike tires, with a pressure gauge.",
          "Pump", "Mountain"),
    _part(FENDERS, "Fender Set - Mountain", "FE-6654", 21.98,
          "Clip-on front and rear mudguards that keep mud and water off you and your bike.",
          "Fenders", "Mountain"),
    _part(RACKS, "Hitch Rack - 4-Bike", "RA-H123", 120.0,
          "Car hitch-mounted rack that carries up to four bikes securely, with a tilt "
          "feature for trunk access.", "Rack", "Transport"),
    _part(STANDS, "All-Purpose Bike Stand", "ST-1401", 159.0,
          "Folding repair stand with a padded clamp that holds any bike steady for "
          "maintenance and cleaning at home.", "Stand", "Repair"),
    _part(CLEANERS, "Bike Wash - Dissolver", "CL-9009", 7.95,
          "Biodegradable bike cleaner that dissolves grease, grime and mud from the frame "
          "and drivetrain.", "Cleaning", "Maintenance"),
    _part(HYDRATION, "Hydration Pack - 70 oz.", "HY-1023-70", 54.99,
          "Versatile 70 oz. hydration backpack with a bite valve, storage pockets and a "
          "breathable back panel.", "Hydration", "Mountain"),
    _part(PANNIERS, "Touring Panniers, Large", "PA-T100", 125.0,
          "Pair of large waterproof panniers with quick-release rack hooks, made for loaded "
          "touring and commuting.", "Touring", "Luggage"),
)

FAMILIES: tuple[Family, ...] = BIKES + FRAMES + PARTS + CLOTHING + ACCESSORIES


def _guid(rng: Random) -> str:
    """A GUID-style (version 4) id drawn from `rng`."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stable_guid(kind: str, key: str) -> str:
    """A GUID that depends only on (kind, key): stable when other documents change."""
    return _guid(Random(f"{SEED}:{kind}:{key}"))


def _tag(name: str) -> Document:
    return {"_id": _stable_guid("tag", name), "name": name}


def _expand(family: Family) -> Iterable[Document]:
    """One product document per size of the family."""
    for size in family.sizes or ("",):
        fields = {"size": size, "colour": family.colour}
        sku = family.sku.format(**fields)
        tag_names = family.tags + ((family.colour,) if family.colour else ())
        yield {
            "id": _stable_guid("product", sku),
            "categoryId": _stable_guid("category", family.category),
            "categoryName": family.category,
            "sku": sku,
            "name": family.name.format(**fields),
            "description": family.description.format(**fields),
            "price": family.price,
            "tags": [_tag(name) for name in tag_names],
        }


def build_products() -> list[Document]:
    """Every product of the sample catalog, in catalog order."""
    return [product for family in FAMILIES for product in _expand(family)]


# --------------------------------------------------------------------------------------------
# Customers and sales orders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    state: str
    zip_code: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    cities: tuple[City, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]  # templates with {n}
    line2: tuple[str, ...]  # templates with {n}


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.replace("_", " ") for name in text.split())


EN_MALE = _names(
    "James John Robert Michael David William Richard Joseph Thomas Christopher Daniel Matthew "
    "Anthony Mark Steven Andrew Joshua Kevin Brian Ryan Jacob Ethan Liam Noah Lucas Carlos Luis "
    "Diego Miguel Raj Arjun Wei Hiroshi Kenji Oliver Jack Harry George Samuel Aaron Nathan Dylan "
    "Connor Jordan Marcus Omar Ahmed Mateo Tyler Gavin Blake"
)
EN_FEMALE = _names(
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Emily "
    "Emma Olivia Sophia Isabella Mia Charlotte Amelia Grace Chloe Hannah Abigail Madison Natalie "
    "Rachel Rebecca Laura Megan Lauren Maria Sofia Lucia Priya Ananya Mei Yuki Aiko Fatima Aisha "
    "Zoe Ruby Jasmine Katherine Victoria Alexandra Brianna Kayla"
)
EN_LAST = _names(
    "Smith Johnson Williams Brown Jones Miller Davis Garcia Rodriguez Wilson Martinez Anderson "
    "Taylor Thomas Hernandez Moore Martin Jackson Thompson White Lopez Lee Gonzalez Harris Clark "
    "Lewis Robinson Walker Perez Hall Young Allen Sanchez Wright King Scott Green Baker Adams "
    "Nelson Hill Ramirez Campbell Mitchell Roberts Carter Phillips Evans Turner Torres Parker "
    "Collins Edwards Stewart Morris Nguyen Murphy Rivera Cook Rogers Morgan Peterson Cooper Reed "
    "Bailey Bell Gomez Kelly Howard Ward Cox Diaz Richardson Wood Watson Brooks Bennett Gray "
    "Reyes Cruz Hughes Price Myers Foster Sanders Ross Morales Powell Sullivan Russell Ortiz "
    "Jenkins Gutierrez Perry Butler Barnes Fisher Henderson Coleman Patel Shah Chen Wang Zhang "
    "Liu Kim Park Tanaka Suzuki Singh Kumar O'Brien MacDonald Fraser Walsh Byrne Van_der_Berg"
)
FR_MALE = _names(
    "Jean Pierre Louis Lucas Hugo Théo Nicolas Julien Antoine Mathieu Guillaume Maxime Olivier "
    "François Étienne Sébastien Romain Thomas Alexandre Yannick"
)
FR_FEMALE = _names(
    "Marie Camille Léa Manon Chloé Inès Julie Sophie Élodie Claire Amélie Céline Aurélie "
    "Margaux Sandrine Pauline Isabelle Nathalie Océane Émilie"
)
FR_LAST = _names(
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre "
    "Mercier Dupont Lambert Bonnet François Fontaine Chevalier Rousseau Blanc Guérin Faure "
    "Benali Nguyen Da_Silva Perrin Gauthier"
)
DE_MALE = _names(
    "Lukas Leon Felix Jonas Paul Maximilian Tobias Florian Stefan Andreas Michael Thomas Jürgen "
    "Matthias Sebastian Jan Markus Niklas Uwe Dieter"
)
DE_FEMALE = _names(
    "Anna Lena Laura Julia Lea Sarah Katharina Sabine Petra Monika Claudia Jana Hannah Sophie "
    "Nina Miriam Ursula Franziska Jessica Birgit"
)
DE_LAST = _names(
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann "
    "Lange Schmitt Werner Krause Meier Lehmann Yılmaz Kaya Nowak Vogel Jung"
)

EN_LINE2 = ("Apt. {n}", "Unit {n}", "Suite {n}")

COUNTRIES: tuple[Country, ...] = (
    Country("US", 35, (
        City("Seattle", "WA", "98104", 47.6062, -122.3321),
        City("Redmond", "WA", "98052", 47.6740, -122.1215),
        City("Bellevue", "WA", "98004", 47.6101, -122.2015),
        City("Portland", "OR", "97205", 45.5152, -122.6784),
        City("San Francisco", "CA", "94109", 37.7749, -122.4194),
        City("Los Angeles", "CA", "90012", 34.0522, -118.2437),
        City("San Diego", "CA", "92101", 32.7157, -117.1611),
        City("Denver", "CO", "80202", 39.7392, -104.9903),
        City("Austin", "TX", "78701", 30.2672, -97.7431),
        City("Dallas", "TX", "75201", 32.7767, -96.7970),
        City("Chicago", "IL", "60601", 41.8781, -87.6298),
        City("New York", "NY", "10001", 40.7128, -74.0060),
        City("Boston", "MA", "02108", 42.3601, -71.0589),
        City("Phoenix", "AZ", "85004", 33.4484, -112.0740),
        City("Salt Lake City", "UT", "84101", 40.7608, -111.8910),
        City("Atlanta", "GA", "30303", 33.7490, -84.3880),
        City("Miami", "FL", "33131", 25.7617, -80.1918),
        City("Minneapolis", "MN", "55401", 44.9778, -93.2650),
    ), EN_MALE, EN_FEMALE, EN_LAST, (
        "{n} Pine Street", "{n} Oak Avenue", "{n} Maple Drive", "{n} Lakeview Road",
        "{n} Cedar Lane", "{n} Hillcrest Court", "{n} Sunset Boulevard", "{n} Park Place",
        "{n} Willow Way", "{n} Mission Street", "{n} Elm Street", "{n} Ridge Road",
    ), EN_LINE2),
    Country("CA", 12, (
        City("Vancouver", "BC", "V6B 1A1", 49.2827, -123.1207),
        City("Victoria", "BC", "V8W 1P6", 48.4284, -123.3656),
        City("Burnaby", "BC", "V5H 2E2", 49.2488, -122.9805),
        City("Calgary", "AB", "T2P 1J9", 51.0447, -114.0719),
        City("Edmonton", "AB", "T5J 0N3", 53.5461, -113.4938),
        City("Toronto", "ON", "M5H 2N2", 43.6532, -79.3832),
        City("Ottawa", "ON", "K1P 5H1", 45.4215, -75.6972),
        City("Montréal", "QC", "H2Y 1C6", 45.5017, -73.5673),
        City("Québec", "QC", "G1R 4P5", 46.8139, -71.2080),
        City("Halifax", "NS", "B3J 1S9", 44.6488, -63.5752),
    ), EN_MALE, EN_FEMALE, EN_LAST, (
        "{n} Maple Street", "{n} King Street West", "{n} Queen Street", "{n} Bay Street",
        "{n} Granville Street", "{n} Robson Street", "{n} Lakeshore Road", "{n} Birch Avenue",
    ), EN_LINE2),
    Country("GB", 15, (
        City("London", "England", "EC1R 0DU", 51.5074, -0.1278),
        City("Manchester", "England", "M1 1AE", 53.4808, -2.2426),
        City("Birmingham", "England", "B1 1BB", 52.4862, -1.8904),
        City("Bristol", "England", "BS1 4DJ", 51.4545, -2.5879),
        City("Leeds", "England", "LS1 4DY", 53.8008, -1.5491),
        City("Liverpool", "England", "L1 8JQ", 53.4084, -2.9916),
        City("Oxford", "England", "OX1 1DP", 51.7520, -1.2577),
        City("Cambridge", "England", "CB2 1TN", 52.2053, 0.1218),
        City("Edinburgh", "Scotland", "EH1 1YZ", 55.9533, -3.1883),
        City("Glasgow", "Scotland", "G1 1XW", 55.8642, -4.2518),
        City("Cardiff", "Wales", "CF10 1EP", 51.4816, -3.1791),
    ), EN_MALE, EN_FEMALE, EN_LAST, (
        "{n} High Street", "{n} Station Road", "{n} Church Lane", "{n} Victoria Road",
        "{n} Mill Lane", "{n} Kingsway", "{n} Park Crescent", "{n} The Green",
    ), ("Flat {n}",)),
    Country("FR", 12, (
        City("Paris", "Seine (Paris)", "75008", 48.8566, 2.3522),
        City("Lyon", "Rhône", "69002", 45.7640, 4.8357),
        City("Marseille", "Bouches-du-Rhône", "13001", 43.2965, 5.3698),
        City("Toulouse", "Haute-Garonne", "31000", 43.6047, 1.4442),
        City("Bordeaux", "Gironde", "33000", 44.8378, -0.5792),
        City("Nantes", "Loire-Atlantique", "44000", 47.2184, -1.5536),
        City("Lille", "Nord", "59000", 50.6292, 3.0573),
        City("Strasbourg", "Bas-Rhin", "67000", 48.5734, 7.7521),
        City("Nice", "Alpes-Maritimes", "06000", 43.7102, 7.2620),
    ), FR_MALE, FR_FEMALE, FR_LAST, (
        "{n}, rue de la Paix", "{n}, avenue Victor Hugo", "{n}, boulevard Saint-Michel",
        "{n}, rue Lafayette", "{n}, place de la République", "{n}, rue des Lilas",
        "{n}, avenue Jean Jaurès", "{n}, rue du Marché",
    ), ("Appartement {n}", "Bâtiment B, Appt. {n}")),
    Country("DE", 12, (
        City("Berlin", "Berlin", "10117", 52.5200, 13.4050),
        City("Hamburg", "Hamburg", "20095", 53.5511, 9.9937),
        City("München", "Bayern", "80331", 48.1351, 11.5820),
        City("Köln", "Nordrhein-Westfalen", "50667", 50.9375, 6.9603),
        City("Frankfurt am Main", "Hessen", "60311", 50.1109, 8.6821),
        City("Stuttgart", "Baden-Württemberg", "70173", 48.7758, 9.1829),
        City("Düsseldorf", "Nordrhein-Westfalen", "40213", 51.2277, 6.7735),
        City("Leipzig", "Sachsen", "04109", 51.3397, 12.3731),
        City("Bonn", "Nordrhein-Westfalen", "53111", 50.7374, 7.0982),
    ), DE_MALE, DE_FEMALE, DE_LAST, (
        "Hauptstraße {n}", "Bahnhofstraße {n}", "Gartenweg {n}", "Lindenallee {n}",
        "Schillerstraße {n}", "Goethestraße {n}", "Am Markt {n}", "Bergstraße {n}",
    ), ("Hinterhaus {n}", "{n}. OG")),
    Country("AU", 14, (
        City("Sydney", "New South Wales", "2000", -33.8688, 151.2093),
        City("Newcastle", "New South Wales", "2300", -32.9283, 151.7817),
        City("Melbourne", "Victoria", "3000", -37.8136, 144.9631),
        City("Brisbane", "Queensland", "4000", -27.4698, 153.0251),
        City("Gold Coast", "Queensland", "4217", -28.0167, 153.4000),
        City("Perth", "Western Australia", "6000", -31.9505, 115.8605),
        City("Adelaide", "South Australia", "5000", -34.9285, 138.6007),
        City("Canberra", "Australian Capital Territory", "2600", -35.2809, 149.1300),
        City("Hobart", "Tasmania", "7000", -42.8821, 147.3272),
    ), EN_MALE, EN_FEMALE, EN_LAST, (
        "{n} George Street", "{n} Collins Street", "{n} Beach Road", "{n} Wattle Avenue",
        "{n} Banksia Drive", "{n} Harbour Street", "{n} Bay Parade", "{n} Gum Tree Lane",
    ), EN_LINE2),
)

ORDERS_PER_CUSTOMER_WEIGHTS = (6, 14, 18, 17, 14, 10, 8, 6, 4, 2, 1)  # index = order count
LINES_PER_ORDER_WEIGHTS = (35, 28, 18, 11, 8)  # index + 1 = lines
GROUP_WEIGHTS = {"Bikes": 20, "Components": 15, "Clothing": 30, "Accessories": 35}
FIRST_CREATION = date(2012, 1, 1)
LAST_CREATION = date(2014, 3, 31)
LAST_ORDER = date(2014, 6, 30)
SHIP_DELAY = timedelta(days=7)


def _iso(day: date) -> str:
    return datetime(day.year, day.month, day.day).isoformat()


def _random_day(rng: Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _ascii_slug(text: str) -> str:
    """Lower-case ASCII letters only, for e-mail local parts ("Théo" -> "theo")."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ı", "i"))
    return "".join(ch for ch in decomposed.lower() if "a" <= ch <= "z")


def _email(rng: Random, first_name: str, taken: set[str]) -> str:
    """A unique `jane7@adventure-works.com`-style address."""
    base = _ascii_slug(first_name)
    while True:
        address = f"{base}{rng.randint(0, 99)}@adventure-works.com"
        if address not in taken:
            taken.add(address)
            return address


def _phone(rng: Random, country: str) -> str:
    suffix = f"555-01{rng.randint(0, 99):02d}"
    if country in ("US", "CA"):
        return f"{rng.randint(200, 989)}-{suffix}"
    return f"1 (11) 500 {suffix}"


def _zip(rng: Random, city: City) -> str:
    if not city.zip_code.isdigit():
        return city.zip_code
    return f"{int(city.zip_code) + rng.randint(0, 9):0{len(city.zip_code)}d}"


def _address(rng: Random, country: Country) -> Document:
    city = rng.choice(country.cities)
    line2 = rng.choice(country.line2).format(n=rng.randint(1, 40)) if rng.random() < 0.2 else ""
    lon = round(city.lon + rng.uniform(-0.05, 0.05), 6)
    lat = round(city.lat + rng.uniform(-0.05, 0.05), 6)
    return {
        "addressLine1": rng.choice(country.streets).format(n=rng.randint(1, 9999)),
        "addressLine2": line2,
        "city": city.name,
        "state": city.state,
        "country": country.code,
        "zipCode": _zip(rng, city),
        "location": {"type": "Point", "coordinates": [lon, lat]},
    }


def _password(rng: Random) -> Document:
    raw = rng.getrandbits(512).to_bytes(64, "big")
    return {"hash": base64.b64encode(raw).decode("ascii"), "salt": f"{rng.getrandbits(32):08X}"}


def _title(rng: Random, female: bool) -> str:
    if female:
        return rng.choices(("Ms.", "Mrs.", ""), (45, 35, 20))[0]
    return rng.choices(("Mr.", ""), (80, 20))[0]


def _customer(rng: Random, emails: set[str]) -> Document:
    """One customer document (its `salesOrderCount` is set once its orders exist)."""
    country = rng.choices(COUNTRIES, [c.weight for c in COUNTRIES])[0]
    female = rng.random() < 0.5
    first = rng.choice(country.female if female else country.male)
    customer_id = _guid(rng)
    return {
        "type": "customer",
        "id": customer_id,
        "customerId": customer_id,
        "title": _title(rng, female),
        "firstName": first,
        "lastName": rng.choice(country.last),
        "emailAddress": _email(rng, first, emails),
        "phoneNumber": _phone(rng, country.code),
        "creationDate": _iso(_random_day(rng, FIRST_CREATION, LAST_CREATION)),
        "addresses": [_address(rng, country)],
        "password": _password(rng),
        "salesOrderCount": 0,
    }


def _by_group(products: Sequence[Document]) -> dict[str, list[Document]]:
    groups: dict[str, list[Document]] = {}
    for product in products:
        groups.setdefault(product["categoryName"].split(",")[0], []).append(product)
    return groups


def _quantity(rng: Random, product: Document) -> int:
    if product["categoryName"].startswith("Bikes"):
        return rng.choices((1, 2), (90, 10))[0]
    return rng.choices((1, 2, 3), (60, 28, 12))[0]


def _line(rng: Random, product: Document) -> Document:
    return {
        "sku": product["sku"],
        "name": product["name"],
        "price": product["price"],
        "quantity": _quantity(rng, product),
    }


def _order_lines(
    rng: Random, groups: dict[str, list[Document]], featured: Document | None
) -> list[Document]:
    """1-5 lines of distinct products (starting with `featured` when given)."""
    count = rng.choices(range(1, 6), LINES_PER_ORDER_WEIGHTS)[0]
    chosen: list[Document] = [featured] if featured else []
    names = list(GROUP_WEIGHTS)
    while len(chosen) < count:
        group = rng.choices(names, [GROUP_WEIGHTS[n] for n in names])[0]
        product = rng.choice(groups[group])
        if all(product["sku"] != other["sku"] for other in chosen):
            chosen.append(product)
    return [_line(rng, product) for product in chosen]


def _orders_for(
    rng: Random,
    customer: Document,
    groups: dict[str, list[Document]],
    featured: Document,
    first_index: int,
) -> list[Document]:
    """The customer's sales orders, oldest first; `first_index` numbers orders globally."""
    count = rng.choices(range(len(ORDERS_PER_CUSTOMER_WEIGHTS)), ORDERS_PER_CUSTOMER_WEIGHTS)[0]
    since = date.fromisoformat(customer["creationDate"][:10])
    days = sorted(_random_day(rng, since, LAST_ORDER) for _ in range(count))
    orders = []
    for offset, day in enumerate(days):
        wanted = featured if (first_index + offset) % FEATURED_EVERY == 7 else None
        orders.append({
            "type": "salesOrder",
            "id": _guid(rng),
            "customerId": customer["id"],
            "orderDate": _iso(day),
            "shipDate": _iso(day + SHIP_DELAY),
            "details": _order_lines(rng, groups, wanted),
        })
    return orders


def build_customers(products: Sequence[Document]) -> list[Document]:
    """Customers, each followed by its sales orders (the original `customer.json` layout)."""
    rng = Random(f"{SEED}:customers")
    groups = _by_group(products)
    featured = next(p for p in products if p["sku"] == FEATURED_SKU)
    emails: set[str] = set()
    docs: list[Document] = []
    order_count = 0
    for _ in range(CUSTOMER_COUNT):
        customer = _customer(rng, emails)
        orders = _orders_for(rng, customer, groups, featured, order_count)
        customer["salesOrderCount"] = len(orders)
        order_count += len(orders)
        docs.append(customer)
        docs.extend(orders)
    return docs


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def render(docs: Iterable[Document]) -> bytes:
    """A JSON array with one document per line (UTF-8, no BOM): compact and diff-friendly."""
    body = ",\n".join(json.dumps(doc, ensure_ascii=False) for doc in docs)
    return ("[\n" + body + "\n]\n").encode("utf-8")


def _validate(products: Sequence[Document], mixed: Sequence[Document]) -> None:
    """Fail loudly if any generated document does not fit the domain models."""
    for product in products:
        Product.model_validate(product)
    for doc in mixed:
        (Customer if doc["type"] == "customer" else SalesOrder).model_validate(doc)


def generate() -> dict[str, bytes]:
    """File name -> exact bytes of every sample file."""
    products = build_products()
    mixed = build_customers(products)
    _validate(products, mixed)
    return {PRODUCTS_FILE: render(products), CUSTOMERS_FILE: render(mixed)}


def stale_files(directory: Path) -> list[str]:
    """Names of the sample files in `directory` that are missing or differ from `generate()`."""
    stale = []
    for name, content in generate().items():
        path = directory / name
        if not path.is_file() or path.read_bytes() != content:
            stale.append(name)
    return stale


def write(directory: Path) -> list[Path]:
    """Write every sample file into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in generate().items():
        path = directory / name
        path.write_bytes(content)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: write the sample files, or `--check` that they are up to date."""
    parser = argparse.ArgumentParser(prog="python -m catalog.sample_generator",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the files differ from what would be generated")
    parser.add_argument("--directory", type=Path, default=None,
                        help="where the sample files live (default: the catalog.sample package)")
    args = parser.parse_args(argv)
    directory: Path = args.directory or sample_dir()
    if args.check:
        stale = stale_files(directory)
        for name in stale:
            print(f"stale sample file: {directory / name}", file=sys.stderr)
        if stale:
            print("run `python -m catalog.sample_generator` to regenerate", file=sys.stderr)
            return 1
        print(f"sample files in {directory} are up to date")
        return 0
    for path in write(directory):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
