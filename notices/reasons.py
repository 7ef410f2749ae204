"""Every reason code in plain words, for subscribers and for officers: one table.

``short`` is the phrase a notice puts in brackets (the SMS text counts every character); ``zh`` and
``en`` are the sentences an officer reads in a report or a case's trail: what was found, on which kind
of photo it is measured, and what the subscriber must do. The codes are the checks' ``ReasonCode``
values; a code not in the table still reads as a general sentence, never as nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReasonText:
    short: str  # the notice's phrase (Chinese, a few characters)
    zh: str  # a sentence for an officer, in Chinese
    en: str  # the same sentence in English


REASONS: dict[str, ReasonText] = {
    "NO_PHOTO": ReasonText(
        "缺少登记照片",
        "登记资料中缺少必需的照片，需要补拍。",
        "A required photo is missing from the registration; it must be captured.",
    ),
    "UNREADABLE_PHOTO": ReasonText(
        "登记照片无法读取",
        "登记照片文件损坏或无法打开，需要补拍。",
        "The stored photo file is damaged or cannot be opened; it must be captured again.",
    ),
    "NO_FACE": ReasonText(
        "照片中未识别到人脸",
        "照片中找不到人脸。",
        "No face could be found in the photo.",
    ),
    "MULTIPLE_FACES": ReasonText(
        "照片中不止一人",
        "照片中有不止一张人脸，无法确定登记人。",
        "The photo shows more than one face, so the registered person cannot be told apart.",
    ),
    "FACE_TOO_SMALL": ReasonText(
        "照片中人像过小",
        "人脸在照片中过小，细节不足以核验。",
        "The face is too small in the photo to be verified.",
    ),
    "BLURRY": ReasonText(
        "照片不清晰",
        "照片模糊（失焦或抖动），五官细节不清。",
        "The photo is blurred (out of focus or shaken); facial detail is lost.",
    ),
    "TOO_DARK": ReasonText(
        "照片过暗",
        "照片过暗或噪点过多，面部看不清。",
        "The photo is too dark or too grainy for the face to be seen.",
    ),
    "TOO_BRIGHT": ReasonText(
        "照片过亮",
        "照片过曝，面部细节丢失。",
        "The photo is overexposed; facial detail is washed out.",
    ),
    "EYES_OCCLUDED": ReasonText(
        "眼部被遮挡",
        "眼部被遮挡（如墨镜或手），无法核验。",
        "The eyes are covered (sunglasses or a hand, say) and cannot be verified.",
    ),
    "MOUTH_NOSE_OCCLUDED": ReasonText(
        "口鼻被遮挡",
        "口鼻被遮挡（如口罩或手），无法核验。",
        "The mouth and nose are covered (a mask or a hand, say) and cannot be verified.",
    ),
    "HAND_OVER_FACE": ReasonText(
        "手部遮挡面部",
        "照片中有手遮挡面部，无法核验。",
        "A hand covers part of the face, which cannot be verified.",
    ),
    "HEAD_COVERED": ReasonText(
        "头部有遮挡物",
        "头部有帽子或其他遮挡物，需人工确认是否符合要求。",
        "The head is covered (a hat, say); a reviewer decides whether the photo is acceptable.",
    ),
    "FACE_MISMATCH": ReasonText(
        "现场照片与身份证照片不一致",
        "现场照片与身份证照片不是同一人。",
        "The live photo and the ID portrait are not the same person.",
    ),
    "FACE_MATCH_UNCERTAIN": ReasonText(
        "现场照片与身份证照片需人工确认",
        "现场照片与身份证照片的相似度处于待定区间，需人工比对。",
        "The live photo and the ID portrait are neither clearly the same person nor clearly not; "
        "a reviewer compares them.",
    ),
    "LIVE_IS_COPY": ReasonText(
        "现场照片不是本人现场拍摄的照片",
        "现场照片与身份证照片几乎完全相同，像是证件照的翻拍，而非现场拍摄。",
        "The live photo is a near copy of the ID portrait, not a photo taken in person.",
    ),
    "ID_NUMBER_INVALID": ReasonText(
        "身份证号码有误",
        "登记的身份证号码格式或校验位有误。",
        "The registered ID number is malformed or its check digit is wrong.",
    ),
    "ID_LEGACY_NUMBER": ReasonText(
        "登记的是旧版15位身份证号码",
        "登记的是旧版15位身份证号码，需更新为18位号码。",
        "The registration holds an old 15-digit ID number; it should be updated to the 18-digit form.",
    ),
    "ID_EXPIRED": ReasonText(
        "身份证件已过有效期",
        "登记的身份证件已过有效期，需要用有效证件重新登记。",
        "The registered ID document has expired; the subscriber must register a valid one.",
    ),
    "ID_TOO_MANY_NUMBERS": ReasonText(
        "同一身份证件登记的号码超过规定数量",
        "同一身份证件在本运营商登记的手机号码超过规定数量（每人最多5个），需由本人核验并选择保留的号码。",
        "More mobile numbers are registered under this ID at this operator than the rules allow (five a "
        "person); the subscriber chooses which to keep when re-verifying.",
    ),
    "FACE_UNDER_OTHER_ID": ReasonText(
        "同一人像登记在其他身份证件下",
        "登记照片中的人像与另一身份证件名下号码的登记照片为同一人，需由本人核验身份。",
        "The face in the registration photos is the same person's as in the photos of a number registered "
        "under another ID; the subscriber must verify their identity.",
    ),
    "PHOTO_RECAPTURE": ReasonText(
        "无法确认本人",
        "审核员判定登记照片无法确认本人，需要重新拍摄。",
        "A reviewer could not confirm the subscriber from the stored photos; new photos must be taken.",
    ),
}
GENERAL = ReasonText(
    "登记资料不符合新的核验标准",
    "登记资料不符合新的核验标准。",
    "The registration does not meet the new verification standard.",
)


def reason_text(code: str) -> ReasonText:
    """The words for ``code``; a general sentence for a code this table does not know yet."""
    return REASONS.get(code, GENERAL)


@dataclass(frozen=True)
class MeasureText:
    zh: str
    en: str


# What each measured value in a finding's evidence is, for an officer (the judge's measure names).
MEASURES: dict[str, MeasureText] = {
    "face_count": MeasureText("人脸数", "faces found"),
    "inter_eye_px": MeasureText("两眼间距（像素）", "distance between the eyes, px"),
    "sharpness": MeasureText("人脸清晰度", "face sharpness"),
    "photo_sharpness": MeasureText("照片清晰度", "photo sharpness"),
    "edge_spread": MeasureText("边缘模糊宽度（占脸宽）", "edge blur width, share of the face width"),
    "edge_spread_widest": MeasureText("最模糊方向的边缘宽度（占脸宽）", "edge blur width in the widest direction"),
    "face_mean_luma": MeasureText("人脸平均亮度（0–255）", "face brightness, 0-255"),
    "photo_mean_luma": MeasureText("照片平均亮度（0–255）", "photo brightness, 0-255"),
    "face_snr": MeasureText("人脸信噪比", "face signal-to-noise ratio"),
    "block_artifacts": MeasureText(
        "压缩块效应（块边界与块内的亮度变化之比）", "JPEG block edges against the detail inside blocks"
    ),
    "mouth_nose_skin_share": MeasureText("口鼻区域皮肤占比", "share of skin where the mouth and nose are"),
    "mouth_redness": MeasureText("唇部红色度", "redness where the lips are"),
    "eye_skin_share": MeasureText("眼部区域皮肤占比", "share of skin around the eyes"),
    "eye_skin_luma_ratio": MeasureText("眼部与面部亮度比", "brightness of the eyes against the face"),
    "head_cover_share": MeasureText("头顶遮挡占比", "share of the head band covered"),
    "hand_over_face": MeasureText("手部遮挡置信度", "certainty that a hand covers the face"),
    "face_cosine": MeasureText("人脸相似度（SFace，越大越像）", "face likeness (SFace cosine; larger is more alike)"),
    "face_distance": MeasureText("人脸距离（dlib，越小越像）", "face distance (dlib; smaller is more alike)"),
    "face_fused": MeasureText("人脸综合相似度", "face likeness, both models combined"),
    "face_likeness": MeasureText("两张照片的相似度", "likeness of the two photos"),
    "id_number": MeasureText("身份证号码", "ID number"),
    "id_number_length": MeasureText("身份证号码位数", "ID number length"),
    "id_expires_on": MeasureText("证件有效期至", "ID valid until"),
    "numbers_on_id": MeasureText("同一身份证件登记的号码数", "numbers registered under this ID"),
    "same_face_distance": MeasureText(
        "与其他证件名下人像的距离（SFace，越小越像）",
        "distance to a face under another ID (SFace; smaller is more alike)",
    ),
}
PHOTO_KINDS: dict[str, MeasureText] = {
    "id_portrait": MeasureText("身份证照片", "ID portrait"),
    "live": MeasureText("现场照片", "live photo"),
    "handheld": MeasureText("手持证件照片", "handheld photo"),
}


def measure_text(name: str) -> MeasureText:
    return MEASURES.get(name, MeasureText(name, name))


def photo_kind_text(kind: str) -> MeasureText:
    """A photo kind or a pair of them (``id_portrait~live``) in words."""
    parts = [PHOTO_KINDS.get(k, MeasureText(k, k)) for k in kind.split("~")]
    return MeasureText(" 与 ".join(p.zh for p in parts), " vs ".join(p.en for p in parts))


def _pick(text: MeasureText, lang: str) -> str:
    return {"zh": text.zh, "en": text.en}.get(lang, f"{text.zh} {text.en}")


def describe_evidence(item: dict[str, Any], lang: str, files: dict[str, str] | None = None) -> tuple[str, str]:
    """A finding's evidence in words, in ``lang`` (zh, en, or both): where it was measured (the photo
    kind, and its file from ``files`` by kind or the item's own ``photo_file``) and what was measured
    against which threshold (or the detail, when nothing was measured)."""
    kind = item.get("photo_kind") or ""
    where = ""
    if kind:
        shown = [files[k] for k in kind.split("~") if k in files] if files else []
        named = " ~ ".join(shown) or item.get("photo_file") or ""
        where = _pick(photo_kind_text(kind), lang) + (f" ({named})" if named else "")
    measured = ""
    if item.get("measure") and item.get("value") is not None:
        measured = f"{_pick(measure_text(item['measure']), lang)} {item['value']}"
        if item.get("threshold") is not None:
            measured += f" {item.get('comparison') or 'vs'} {item['threshold']}"
    elif item.get("detail"):
        measured = str(item["detail"])
    return where, measured
